"""Provenance at run time, with a real Prometheus (Debian's `prometheus`).

Two agents run at once: one the committed spec/demo.yml, one an edited copy
(a help text changed). Prometheus scrapes both every second and evaluates
the committed rules/alerts.yml every second. The generated EmitdSpecDrift
alert must fire for the agent that runs the edited spec, and not for the one
that runs the spec the artifacts were generated from.

The same run checks emitd's own dashboard against a live agent: every metric
its panels query is one the agent exports.
"""
import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import DEMO_SPEC, ROOT, free_port, wait_until

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
ALERTS = os.path.join(ROOT, "rules", "alerts.yml")
MANIFEST = os.path.join(ROOT, "dashboards", "manifest.json")
OWN_DASHBOARD = os.path.join(ROOT, "dashboards", "demo-emitd-health.json")


class Prometheus:
    def __init__(self, tmp_path, targets):
        if not os.access(PROMETHEUS, os.X_OK):
            pytest.fail("prometheus not found (make deps installs the prometheus package)")
        self.port = free_port()
        cfg = tmp_path / "prometheus.yml"
        cfg.write_text(json.dumps({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [ALERTS],
            "scrape_configs": [{"job_name": "emitd",
                                "static_configs": [{"targets": targets}]}],
        }))
        self.log = open(tmp_path / "prometheus.log", "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)

    def api(self, path, **params):
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=5) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]

    def try_api(self, path, **params):
        try:
            return self.api(path, **params)
        except OSError:
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def spec_hash(agent):
    for line in agent.get("/metrics")[2].decode().splitlines():
        m = re.match(r'emitd_spec_info\{namespace="demo",sha256="([0-9a-f]{64})"\} 1$', line)
        if m:
            return m.group(1)
    pytest.fail("no emitd_spec_info on /metrics")


def drift_alerts(prom):
    data = prom.try_api("alerts")
    if data is None:
        return None
    return [a for a in data["alerts"] if a["labels"].get("alertname") == "EmitdSpecDrift"]


def test_spec_drift_alert_fires_for_the_edited_spec_only(agent_factory, tmp_path):
    with open(DEMO_SPEC) as f:
        text = f.read()
    assert "Work items waiting in the queue." in text
    edited_spec = tmp_path / "edited.yml"
    edited_spec.write_text(text.replace("Work items waiting in the queue.",
                                        "Items in the queue, edited after gen."))
    with open(MANIFEST) as f:
        generated_from = json.load(f)["spec_sha256"]

    current = agent_factory(DEMO_SPEC)
    edited = agent_factory(str(edited_spec))
    current.wait_ready()
    edited.wait_ready()
    assert spec_hash(current) == generated_from
    edited_hash = spec_hash(edited)
    assert edited_hash != generated_from

    prom = Prometheus(tmp_path, [current.listen, edited.listen])
    try:
        # both agents scraped, and the drift alert firing for the edited one
        def scraped_both():
            data = prom.try_api("query", query="emitd_spec_info")
            if not data:
                return None
            return {r["metric"]["instance"] for r in data["result"]} == \
                {current.listen, edited.listen}
        assert wait_until(scraped_both, timeout=60, interval=0.5), \
            "Prometheus never scraped both agents"

        def firing():
            alerts = drift_alerts(prom)
            return alerts and [a for a in alerts if a["state"] == "firing"]
        fired = wait_until(firing, timeout=30, interval=0.5)
        assert fired, f"EmitdSpecDrift never fired: {drift_alerts(prom)}"

        # a few more evaluations over both agents' series: still only the edited one
        time.sleep(3)
        alerts = drift_alerts(prom)
        assert len(alerts) == 1, alerts
        (a,) = alerts
        assert a["state"] == "firing"
        assert a["labels"]["instance"] == edited.listen
        assert a["labels"]["sha256"] == edited_hash
        assert a["labels"]["namespace"] == "demo"
        assert "out of date with what runs" in a["annotations"]["summary"]
        groups = prom.api("rules", type="alert")["groups"]
        (g,) = [g for g in groups if g["name"] == "emitd-provenance"]
        assert g["rules"][0]["health"] == "ok", g
    finally:
        prom.stop()


def test_own_dashboard_queries_exported_metrics(agent_factory):
    """Every metric a panel of emitd's own dashboard reads is on /metrics."""
    with open(OWN_DASHBOARD) as f:
        dash = json.load(f)
    agent = agent_factory(DEMO_SPEC)
    agent.wait_ready()
    exported = {line.split()[2] for line in agent.get("/metrics")[2].decode().splitlines()
                if line.startswith("# TYPE ")}
    names = set()
    for panel in dash["panels"][1:]:
        for t in panel["targets"]:
            for name in re.findall(r"\b(emitd_[a-z0-9_]+)", t["expr"]):
                names.add(re.sub(r"_bucket$", "", name))
    assert len(names) >= 12
    missing = names - exported
    assert not missing, f"panels query metrics the agent does not export: {missing}"
