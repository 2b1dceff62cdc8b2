"""`emitd gen` output checked by real consumers.

promtool (Debian's prometheus package) parses both generated rule files and
every PromQL expression of every generated dashboard, wrapped as recording
rules in a temporary rules file. gcc compiles the generated header against
include/emitd_probe.h. The committed artifacts must equal a fresh generation.

These tests need neither root nor BPF, but like the rest of this directory
they fail, never skip, when a tool is missing.
"""
import json
import os
import shutil
import subprocess

import pytest
import yaml  # python3-yaml (make deps): Grafana's provisioning files

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EMITD = os.environ.get("EMITD", os.path.join(ROOT, "build", "emitd"))
SPEC = os.path.join(ROOT, "spec", "demo.yml")
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
RULE_FILES = ("recording_rules.yml", "alerts.yml")


def require_tools():
    problems = []
    if not os.access(EMITD, os.X_OK):
        problems.append(f"{EMITD} is not built (run make)")
    if not os.access(PROMTOOL, os.X_OK):
        problems.append("promtool not found (make deps installs the prometheus package)")
    if problems:
        pytest.fail("cannot run the generator tests: " + "; ".join(problems))


def gen(*args):
    return subprocess.run([EMITD, "gen", *args], cwd=ROOT, capture_output=True, text=True)


def promtool_rules(*files):
    r = subprocess.run([PROMTOOL, "check", "rules", *map(str, files)],
                       capture_output=True, text=True)
    print(r.stdout, r.stderr)
    return r


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    require_tools()
    d = tmp_path_factory.mktemp("gen")
    r = gen("--spec", SPEC, "--out", str(d))
    assert r.returncode == 0, r.stdout + r.stderr
    return d


def dashboards(out):
    with open(out / "dashboards" / "manifest.json") as f:
        manifest = json.load(f)
    for entry in manifest["dashboards"]:
        with open(out / "dashboards" / entry["file"]) as f:
            yield entry, json.load(f)


def dashboard_exprs(out):
    for entry, dash in dashboards(out):
        for panel in dash["panels"]:
            for target in panel.get("targets", []):
                yield entry["slug"], panel["title"], target["expr"]


def wrap_as_rules(path, exprs):
    """A rules file with one recording rule per expression (JSON is YAML)."""
    rules = [{"record": f"emitd_gen_check:expr_{i}", "expr": e} for i, e in enumerate(exprs)]
    with open(path, "w") as f:
        json.dump({"groups": [{"name": "dashboard-exprs", "rules": rules}]}, f, indent=1)


@pytest.mark.parametrize("name", RULE_FILES)
def test_rule_files_pass_promtool(out, name):
    r = promtool_rules(out / "rules" / name)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_dashboard_exprs_pass_promtool(out, tmp_path):
    exprs = [e for _, _, e in dashboard_exprs(out)]
    assert len(exprs) >= 8
    path = tmp_path / "dashboard_exprs.yml"
    wrap_as_rules(path, exprs)
    r = promtool_rules(path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in r.stdout


def test_alert_exprs_in_overview_pass_promtool(out):
    """The alerts overview lists exactly the alerts of rules/alerts.yml."""
    with open(out / "rules" / "alerts.yml") as f:
        text = f.read()
    for _, dash in dashboards(out):
        overview = dash["panels"][0]
        assert overview["title"] == "Alerts overview"
        for line in overview["options"]["content"].splitlines():
            if line.startswith("| ") and not line.startswith(("| Alert", "| ---")):
                name = line.split(" | ")[0][2:]
                assert f"alert: '{name}'" in text, name


def test_promtool_wrapper_catches_errors(tmp_path):
    """The wrapping is a real check: a broken expression fails it."""
    require_tools()
    path = tmp_path / "broken.yml"
    wrap_as_rules(path, ["sum(rate(demo_requests_total[5m])"])
    assert promtool_rules(path).returncode != 0


def test_dashboards_import_as_is(out):
    require_tools()
    count = 0
    for entry, dash in dashboards(out):
        count += 1
        assert dash["__inputs"][0]["name"] == "DS_PROMETHEUS"
        assert dash["uid"] == entry["uid"]
        assert len(dash["panels"]) == entry["panels"] <= 36
        ids = [p["id"] for p in dash["panels"]]
        assert len(set(ids)) == len(ids)
        assert all(0 < i < 2 ** 31 for i in ids)
        for p in dash["panels"]:
            assert p["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
            for t in p.get("targets", []):
                assert t["datasource"] == p["datasource"]
        # provisioned from a file, ${DS_PROMETHEUS} is this variable
        var = dash["templating"]["list"][0]
        assert (var["type"], var["name"], var["query"]) == ("datasource", "DS_PROMETHEUS",
                                                            "prometheus")
        assert var["current"]["value"] == "emitd-prometheus"
    assert count == 5  # four families and emitd's own


def test_provisioning_points_at_the_dashboards(out):
    """Grafana's file provisioning: the provider's path holds the dashboards
    (docs/GEN.md mounts dashboards/ there), the datasource is the uid the
    dashboards' variable selects."""
    prov = out / "dashboards" / "provisioning"
    with open(prov / "dashboards.yml") as f:
        d = yaml.safe_load(f)
    with open(prov / "datasources.yml") as f:
        ds = yaml.safe_load(f)
    assert d["apiVersion"] == 1 and ds["apiVersion"] == 1  # integers, as Grafana reads them
    (p,) = d["providers"]
    assert p["type"] == "file" and p["orgId"] == 1
    assert p["options"]["path"] == "/var/lib/grafana/dashboards/emitd-demo"
    (src,) = ds["datasources"]
    assert src["type"] == "prometheus" and src["uid"] == "emitd-prometheus"
    assert src["isDefault"] is False
    for _, dash in dashboards(out):
        assert dash["templating"]["list"][0]["current"]["value"] == src["uid"]


def test_header_compiles(out, tmp_path):
    src = tmp_path / "use_header.c"
    src.write_text(
        '#include <stdio.h>\n'
        '#include "emitd_probe.h"\n'
        '#include "demo_metrics.h"\n'
        '#define PRINT(id, name) printf("%s %08x\\n", name, id);\n'
        'int main(void)\n'
        '{\n'
        '\tdouble ratio = 0.5;\n'
        '\tDEMO_PAYLOAD_RATIO_PROBE(&ratio);\n'
        '\tDEMO_REQUEST_LATENCY_SECONDS_PROBE("/r", 42L);\n'
        '\tDEMO_METRICS(PRINT)\n'
        '\treturn DEMO_METRICS_COUNT == 6 ? 0 : 1;\n'
        '}\n')
    exe = tmp_path / "use_header"
    r = subprocess.run(["gcc", "-Wall", "-Werror", "-I", os.path.join(ROOT, "include"),
                        "-I", str(out / "include" / "generated"), str(src), "-o", str(exe)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(exe)], capture_output=True, text=True)
    assert r.returncode == 0
    assert r.stdout.splitlines()[0].startswith("demo_requests_total ")


def test_regeneration_is_byte_identical(out, tmp_path):
    r = gen("--spec", SPEC, "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    for dirpath, _, files in os.walk(out):
        for name in files:
            a = os.path.join(dirpath, name)
            b = os.path.join(tmp_path, os.path.relpath(a, out))
            with open(a, "rb") as fa, open(b, "rb") as fb:
                assert fa.read() == fb.read(), a


def test_committed_artifacts_are_current():
    require_tools()
    r = gen("--spec", SPEC, "--out", ".", "--check")
    assert r.returncode == 0, r.stdout + r.stderr


def test_check_exit_codes(out, tmp_path):
    """A stale tree gives the documented code; a usage error 2, a bad spec 1."""
    with open(SPEC) as f:
        spec = f.read()
    edited = tmp_path / "edited.yml"
    edited.write_text(spec.replace("No requests for 10 minutes", "No requests in 10m"))
    assert gen("--spec", str(edited), "--out", str(out), "--check").returncode == 9
    edited.write_text(spec.replace("Work items waiting in the queue.", "Queue length."))
    assert gen("--spec", str(edited), "--out", str(out), "--check").returncode == 10
    catalog = out / "docs" / "RULES_CATALOG.md"
    text = catalog.read_text()
    catalog.write_text(text.replace("| spec |", "| suggested |"))
    try:
        assert gen("--spec", SPEC, "--out", str(out), "--check").returncode == 11
    finally:
        catalog.write_text(text)
    assert gen("--spec", SPEC, "--out", str(out), "--check").returncode == 0
    assert gen("--spec", SPEC).returncode == 2
    edited.write_text("version: 1\n")
    assert gen("--spec", str(edited), "--out", str(out)).returncode == 1
