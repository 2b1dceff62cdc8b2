"""/metrics is promtool-clean for every shipped spec.

CI gates pipe a scrape through `promtool check metrics` (Debian's prometheus
package), which exits 3 on any finding: abbreviated or non-base units in a
name (`_us`, `_bits`), a counter without `_total`, missing help. An agent runs
each shipped spec with its probes firing (the demo with the signal settings
of test_signal.py, so the entropy gauges are on the page too), and both
formats of a scrape go through promtool:

- text 0.0.4: exit 0, no output;
- OpenMetrics: promtool reads only text 0.0.4, whose parser files the metadata
  of an OpenMetrics counter (`# TYPE x counter`, samples `x_total`) under a
  name without samples, so it reports `x_total no help text` for every counter
  whatever the exporter. The page is checked twice: raw, where those are the
  only findings allowed (each for a counter family whose HELP is on the
  page); and with the OpenMetrics-only syntax mapped to text 0.0.4 (counter
  metadata under the `_total` name; `# UNIT`, `# EOF` and `_created` lines
  left out), where promtool must find nothing.
"""
import os
import re
import shutil
import subprocess

import pytest
import yaml  # python3-yaml (make deps): the ConfigMap's spec

from conftest import DEMO, DEMO_SPEC, ROOT, require_environment, wait_until

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
SIGNAL_ARGS = ("--signal-window", "300", "--signal-every-drains", "25")
DEPLOY_SPEC = os.path.join(ROOT, "deploy", "emitd.yml")
DAEMONSET = os.path.join(ROOT, "deploy", "kubernetes", "daemonset.yaml")
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


def require_promtool():
    if not os.access(PROMTOOL, os.X_OK):
        pytest.fail("promtool not found (make deps installs the prometheus package)")


def promtool(text):
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    return r.returncode, (r.stdout + r.stderr).strip()


def scrape(agent):
    _, _, text = agent.get("/metrics")
    _, h, om = agent.get("/metrics", headers={"Accept": OPENMETRICS})
    assert h["Content-Type"].startswith("application/openmetrics-text"), h
    return text.decode(), om.decode()


def om_as_text(om):
    """OpenMetrics -> text 0.0.4 syntax, names untouched."""
    counters = set(re.findall(r"^# TYPE (\S+) counter$", om, re.M))
    out = []
    for line in om.splitlines():
        m = re.match(r"^# (TYPE|HELP) (\S+)( .*)?$", line)
        if m and m.group(2) in counters:
            line = f"# {m.group(1)} {m.group(2)}_total{m.group(3) or ''}"
        elif line.startswith("# UNIT ") or line == "# EOF":
            continue
        elif re.match(r"^\S+_created[{ ]", line) and \
                re.match(r"^(\S+)_created", line).group(1) in counters:
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def check_page(text, om):
    rc, out = promtool(text)
    assert (rc, out) == (0, ""), f"text 0.0.4: promtool exit {rc}:\n{out}"
    rc, out = promtool(om_as_text(om))
    assert (rc, out) == (0, ""), f"OpenMetrics names: promtool exit {rc}:\n{out}"
    counters = set(re.findall(r"^# TYPE (\S+) counter$", om, re.M))
    helped = set(re.findall(r"^# HELP (\S+) \S", om, re.M))
    rc, out = promtool(om)
    for line in filter(None, out.splitlines()):
        m = re.match(r"^(\S+)_total no help text$", line)
        assert m and m.group(1) in counters & helped, \
            f"OpenMetrics: promtool finding beyond the counter-metadata artefact: {line}"


def run_with_demo(agent):
    demo = subprocess.Popen([DEMO, "--rate", "2000"], cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        def ready():
            text, om = scrape(agent)
            # the signal gauges (entropy, correlation, payload) and a histogram
            if "emitd_resilience_index " in text and "emitd_payload_frame_bytes " in text \
                    and re.search(r"^demo_request_latency_\w+_count [1-9]", text, re.M):
                return text, om
            return None
        page = wait_until(ready, timeout=40, interval=0.5)
        assert page, "the signal gauges never appeared on /metrics"
        return page
    finally:
        demo.terminate()
        demo.wait()


def test_demo_spec_is_promtool_clean(agent_factory):
    require_promtool()
    a = agent_factory(interval_ms=20, extra=SIGNAL_ARGS)
    a.wait_ready()
    text, om = run_with_demo(a)
    check_page(text, om)


def test_deploy_spec_is_promtool_clean(agent_factory):
    """deploy/emitd.yml, the Debian package's /etc/emitd/emitd.yml (bash)."""
    require_promtool()
    a = agent_factory(spec=DEPLOY_SPEC)
    a.wait_ready()
    subprocess.run(["/bin/bash", "-c", "/bin/true; /bin/true"], check=True, timeout=10)
    page = wait_until(lambda: (lambda p: p if re.search(
        r"^bash_commands_executed_total\{.*\} [1-9]", p[0], re.M) else None)(scrape(a)))
    assert page, "bash_commands_executed_total never counted the commands"
    check_page(*page)


def test_daemonset_spec_is_promtool_clean(agent_factory, tmp_path):
    """The ConfigMap's spec, on this host's libc instead of the pod's /host."""
    require_environment()
    require_promtool()
    with open(DAEMONSET) as f:
        cm = [d for d in yaml.safe_load_all(f) if d and d.get("kind") == "ConfigMap"]
    assert len(cm) == 1, "deploy/kubernetes/daemonset.yaml: one ConfigMap expected"
    spec = cm[0]["data"]["emitd.yml"]
    assert "/host" + LIBC in spec
    path = tmp_path / "daemonset-spec.yml"
    path.write_text(spec.replace("/host" + LIBC, LIBC))
    a = agent_factory(spec=str(path))
    a.wait_ready()
    page = wait_until(lambda: (lambda p: p if re.search(
        r"^node_malloc_calls_total [1-9]", p[0], re.M) else None)(scrape(a)))
    assert page, "node_malloc_calls_total never counted a malloc"
    check_page(*page)
