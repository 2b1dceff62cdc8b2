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

from conftest import DEMO, EMITD, ROOT, require_environment, wait_until

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


# ---- emitd lint warns where promtool would flag ------------------------------

# Units and near-units, base and not, spelt out and abbreviated.
WORDS = ["seconds", "milliseconds", "microseconds", "nanoseconds", "us", "ms", "ns", "s",
         "sec", "secs", "minutes", "hours", "days", "weeks", "bits", "bytes", "kilobytes",
         "kibibytes", "megabits", "gigabytes", "kb", "mb", "gb", "tb", "pb", "b", "m", "h",
         "d", "celsius", "fahrenheit", "kelvin", "kelvins", "rankine", "inches", "yards",
         "miles", "meters", "metres", "kilometers", "grams", "kilograms", "pounds", "ounces",
         "joules", "calories", "kilocalories", "volts", "millivolts", "amperes",
         "milliamperes", "usage", "status", "ratio", "percent", "info", "MS", "Seconds"]
UNIT_RULES = ("use base unit", "metric names should not contain abbreviated units")


def names_for(w):
    """Names with @w as their only unit word, and with the base unit seconds too."""
    return [f"x_{w}", f"x_{w}_y", f"{w}_x"], [f"seconds_{w}", f"{w}_seconds"]


def lint_warnings(tmp_path, metrics):
    """emitd lint on a spec of gauges: {metrics index: [(field, message)]}, its exit."""
    body = "".join(
        f"  - {{ name: {name}, type: gauge, help: G.,{f' unit: {unit},' if unit else ''}\n"
        f"      probe: {{ target: t, usdt: 'p:g', value: {{ arg: 0 }} }} }}\n"
        for name, unit in metrics)
    spec = tmp_path / "units.yml"
    spec.write_text("version: 1\nnamespace: demo\ntargets: [{ name: t, pid: 1 }]\n"
                    "metrics:\n" + body)
    r = subprocess.run([EMITD, "lint", str(spec)], capture_output=True, text=True, timeout=60)
    out = {}
    for line in r.stderr.splitlines():
        m = re.match(rf"^{re.escape(str(spec))}:\d+:\d+: warning: metrics\[(\d+)\]\.(\w+): (.*)$",
                     line)
        assert m, f"not a FILE:LINE:COL warning: {line}"
        out.setdefault(int(m.group(1)), []).append((m.group(2), m.group(3)))
    return r.returncode, r.stdout, out


def promtool_unit_findings(names):
    page = "".join(f"# HELP demo_{n} G.\n# TYPE demo_{n} gauge\ndemo_{n} 1\n" for n in names)
    _, out = promtool(page)
    found = {}
    for line in filter(None, out.splitlines()):
        name, msg = line.split(" ", 1)
        assert msg.startswith(UNIT_RULES), f"promtool flags {line!r} for another reason"
        found.setdefault(name[len("demo_"):], []).append(msg)
    return found


def test_lint_unit_warnings_match_promtool(tmp_path):
    """A name warns in emitd lint exactly when promtool flags its unit, with
    promtool's words; the spec still lints (exit 0). A name with two unit
    words (`seconds_bits`) is flagged by Debian's promtool 2.42 on some runs
    only (its promlint looks the units up in Go map order): emitd warns about
    every such name, so promtool flags a subset."""
    require_promtool()
    one = sorted({n for w in WORDS for n in names_for(w)[0]})
    two = sorted({n for w in WORDS for n in names_for(w)[1]} - set(one))
    names = one + two
    warned = {}
    for k in range(0, len(names), 64):          # at most 64 metrics a spec
        rc, stdout, w = lint_warnings(tmp_path, [(n, None) for n in names[k:k + 64]])
        assert rc == 0 and "ok (" in stdout, stdout
        warned.update({names[k + i]: ws for i, ws in w.items()})
    flagged = promtool_unit_findings(names)
    assert len(flagged) > 50
    assert {n for n in warned if n in one} == {n for n in flagged if n in one}, \
        sorted({n for n in warned if n in one} ^ {n for n in flagged if n in one})
    assert {n for n in flagged if n in two} <= {n for n in warned if n in two}
    for w in WORDS:
        single, double = names_for(w)
        assert all((n in warned) == (single[0] in warned) for n in single + double), w
    for name, ws in warned.items():
        assert [f for f, _ in ws] == ["name"], ws
        rule = re.search(r"\((use base unit [^)]*|metric names should not contain "
                         r"abbreviated units)\)", ws[0][1]).group(1)
        if name in one:
            assert rule in flagged[name], (name, rule, flagged[name])


def test_lint_unit_field_warnings_match_promtool(tmp_path):
    """`unit: w` warns at the unit exactly when promtool flags demo_x_w."""
    require_promtool()
    units = [w for w in WORDS if re.fullmatch(r"[a-z][a-z0-9_]*", w)]
    rc, _, warned = lint_warnings(tmp_path, [(f"x_{u}", u) for u in units])
    assert rc == 0
    flagged = promtool_unit_findings([f"x_{u}" for u in units])
    assert {f"x_{units[i]}" for i in warned} == set(flagged)
    assert all([f for f, _ in ws] == ["unit"] for ws in warned.values()), warned
