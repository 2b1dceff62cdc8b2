"""`emitd lint` parses every PromQL expression with promtool.

The spec's panel and alert expressions, and every expression `emitd gen`
synthesizes for the spec, are wrapped as recording rules in a temporary rules
file and checked with `promtool check rules` (Debian's prometheus package).
A failing expression is a normal lint error at its panel, alert or metric.

These tests need neither root nor BPF, but like the rest of this directory
they fail, never skip, when a tool is missing.
"""
import os
import shutil
import stat
import subprocess

import pytest

from conftest import DEMO_SPEC, EMITD, ROOT

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
NOT_FOUND = ("emitd lint: promtool not found: PromQL expressions not parsed "
             "(install the prometheus package)")

HEAD = """\
version: 1
namespace: demo
targets:
  - name: demo
    binary: build/demo-target
metrics:
  - name: requests_total
    type: counter
    help: Requests handled.
"""

# Line 12, column 9: the panel's flow mapping.
BROKEN_PANEL = HEAD + """\
    probe: { target: demo, uprobe: handle_request }
    panels:
      - { title: Requests, promql: 'sum(rate(demo_requests_total[5m])' }
"""

# Line 12, column 9: the alert's flow mapping.
BROKEN_ALERT = HEAD + """\
    probe: { target: demo, uprobe: handle_request }
    alerts:
      - { alert: DemoNoRequests, expr: 'sum(rate(demo_requests_total[10m])) ==', for: 10m, severity: warning, summary: No requests }
"""

# A label PromQL cannot group by: `Inf` lexes as a number, so the synthesized
# `sum by (Inf) (...)` does not parse. Reported at the metric (line 7, col 5).
SYNTH_BROKEN = HEAD + """\
    labels: [Inf]
    probe:
      target: demo
      uprobe: handle_request
      labels: { Inf: { arg: 0, as: string } }
"""


def require_tools():
    problems = []
    if not os.access(EMITD, os.X_OK):
        problems.append(f"{EMITD} is not built (run make)")
    if not os.access(PROMTOOL, os.X_OK):
        problems.append("promtool not found (make deps installs the prometheus package)")
    if problems:
        pytest.fail("cannot run the lint tests: " + "; ".join(problems))


@pytest.fixture
def tmpdir_env(tmp_path):
    """An environment whose TMPDIR is a fresh directory, to see what lint leaves."""
    require_tools()
    d = tmp_path / "tmp"
    d.mkdir()
    env = dict(os.environ, TMPDIR=str(d))
    env.pop("EMITD_PROMTOOL", None)
    return env, d


def lint(path, env):
    r = subprocess.run([EMITD, "lint", str(path)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=60)
    print(r.stdout, r.stderr)
    return r


def write_spec(tmp_path, text, name="spec.yml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def fake_promtool(tmp_path, body):
    """An executable standing in for promtool; $3 is the rules file."""
    p = tmp_path / "fake-promtool"
    p.write_text("#!/bin/sh\n" + body)
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return str(p)


def error_lines(r):
    return [l for l in r.stderr.splitlines() if ": error: " in l]


def test_broken_panel_promql(tmp_path, tmpdir_env):
    env, tmp = tmpdir_env
    spec = write_spec(tmp_path, BROKEN_PANEL)
    r = lint(spec, env)
    assert r.returncode == 1
    errors = error_lines(r)
    assert len(errors) == 1, r.stderr
    assert errors[0] == (f"{spec}:12:9: error: metrics[0].panels[0].promql: "
                         "PromQL does not parse: 1:34: parse error: unclosed left parenthesis")
    assert "ok (" not in r.stdout
    assert not os.listdir(tmp), "lint left its temporary rules file behind"


def test_broken_alert_expr(tmp_path, tmpdir_env):
    env, tmp = tmpdir_env
    spec = write_spec(tmp_path, BROKEN_ALERT)
    r = lint(spec, env)
    assert r.returncode == 1
    errors = error_lines(r)
    assert len(errors) == 1, r.stderr
    assert errors[0].startswith(f"{spec}:12:9: error: metrics[0].alerts[0].expr: "
                                "PromQL does not parse: "), errors[0]
    assert "parse error" in errors[0]
    assert not os.listdir(tmp)


def test_broken_synthesized_expr_reported_at_metric(tmp_path, tmpdir_env):
    env, _ = tmpdir_env
    spec = write_spec(tmp_path, SYNTH_BROKEN)
    r = lint(spec, env)
    assert r.returncode == 1
    errors = error_lines(r)
    # The dashboard split and the recording rule share the expression: once.
    assert len(errors) == 1, r.stderr
    assert errors[0].startswith(f"{spec}:7:5: error: metrics[0]: PromQL does not parse: "), \
        errors[0]
    assert "(generated expression `sum by (Inf) (rate(demo_requests_total[5m]))` in " \
           "dashboards/demo-default.json, " in errors[0]


def test_demo_spec_lints_clean(tmpdir_env):
    env, tmp = tmpdir_env
    r = lint(DEMO_SPEC, env)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert r.stdout.startswith(f"{DEMO_SPEC}: ok (")
    assert not os.listdir(tmp)


def test_promtool_missing_warns_and_passes(tmp_path, tmpdir_env):
    """Without promtool the expressions go unchecked: a warning, not a failure."""
    env, tmp = tmpdir_env
    env["EMITD_PROMTOOL"] = "/nonexistent"
    spec = write_spec(tmp_path, BROKEN_PANEL)
    r = lint(spec, env)
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == [NOT_FOUND]
    assert r.stdout.startswith(f"{spec}: ok (")
    assert not os.listdir(tmp)


def test_promtool_not_in_path(tmp_path, tmpdir_env):
    env, _ = tmpdir_env
    env["PATH"] = str(tmp_path / "empty")
    r = lint(DEMO_SPEC, env)
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == [NOT_FOUND]


def test_promtool_multiline_message_joined(tmp_path, tmpdir_env):
    """Several parse errors of one expression come on several lines."""
    env, _ = tmpdir_env
    env["EMITD_PROMTOOL"] = fake_promtool(tmp_path, """\
echo "Checking $3"
echo "  FAILED:" >&2
echo "$3: 5:15: group \\"emitd-lint\\", rule 1, \\"emitd:lint:expr_0\\": could not parse expression: 1:2: first" >&2
echo "1:3: second" >&2
echo >&2
exit 1
""")
    spec = write_spec(tmp_path, BROKEN_PANEL)
    r = lint(spec, env)
    assert r.returncode == 1
    assert error_lines(r) == [f"{spec}:12:9: error: metrics[0].panels[0].promql: "
                              "PromQL does not parse: 1:2: first; 1:3: second"]


def test_promtool_failure_naming_no_expression(tmp_path, tmpdir_env):
    env, _ = tmpdir_env
    env["EMITD_PROMTOOL"] = fake_promtool(tmp_path, "echo 'something else broke' >&2\nexit 3\n")
    r = lint(DEMO_SPEC, env)
    assert r.returncode == 1
    assert "check rules failed (exit status 3):" in r.stderr
    assert "something else broke" in r.stderr
    assert not error_lines(r)


def test_rules_file_given_to_promtool(tmp_path, tmpdir_env):
    """What promtool sees: one recording rule per distinct expression."""
    env, _ = tmpdir_env
    copy = tmp_path / "seen.yml"
    env["EMITD_PROMTOOL"] = fake_promtool(
        tmp_path, f'[ "$1 $2" = "check rules" ] || exit 2\ncp "$3" {copy}\n')
    r = lint(DEMO_SPEC, env)
    assert r.returncode == 0, r.stderr
    text = copy.read_text()
    assert text.startswith("groups:\n  - name: emitd-lint\n    rules:\n")
    exprs = [l.split("expr: ", 1)[1] for l in text.splitlines() if "expr: " in l]
    assert len(exprs) == len(set(exprs))
    # The spec's own, a synthesized dashboard panel, a recording rule, a health alert.
    for e in ("'sum by (route) (rate(demo_requests_total[5m]))'",
              "'sum(rate(demo_requests_total[10m])) == 0'",
              "'topk(5, demo_sensor_value)'",
              "'sum(demo_requests_total)'",
              "'emitd_scrape_duration_seconds > 0.5'"):
        assert e in exprs
    r = subprocess.run([PROMTOOL, "check", "rules", str(copy)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
