"""--attach-policy strict|best-effort.

strict (the default): a probe that cannot attach stops the agent, exit 1,
with the probe's FILE:LINE:COL error. best-effort: the agent serves the
probes that attached; each one that did not is in the log with its error, in
/healthz (200: the agent lives and serves; the body names the probe) and as
emitd_probe_attached{probe} 0, and is attached once its target appears: a
missing binary when it is created (inotify on its nearest existing parent
directory), a missing symbol when the binary changes, a pid file when it
names a running process.
"""
import os
import shutil
import signal
import subprocess
import time

from conftest import DEMO, EMITD, ROOT, require_environment, sample, wait_until
from test_core import demo_summary
from test_restart import finish_demo, stop_demos, wait_drained
from test_targets import copy_exec, healthz, target_up

assert stop_demos   # autouse here too: no target outlives its test

LABEL_TARGET = os.path.join(ROOT, "build", "tests", "label_target")

SPEC = """version: 1
namespace: policy
targets:
  - name: demo
    binary: {demo}
  - name: later
    binary: {later}
metrics:
  - name: requests_total
    type: counter
    help: Requests handled, by route.
    labels: [route]
    budget: 16
    probe:
      target: demo
      uprobe: handle_request
      labels: {{ route: {{ arg: 0, as: string }} }}
  - name: request_done_total
    type: counter
    help: Requests done.
    probe: {{ target: demo, usdt: 'demo:request_done' }}
  - name: later_total
    type: counter
    help: Hits of a probe of a binary that is not there at start.
    probe: {{ target: later, {later_probe} }}
"""


def write_spec(tmp_path, later, later_probe="usdt: 'demo:payload'"):
    p = tmp_path / "policy.yml"
    p.write_text(SPEC.format(demo=DEMO, later=later, later_probe=later_probe))
    text = p.read_text()
    line = text[:text.index(f"binary: {later}")].count("\n") + 1   # the error names it
    return str(p), line


def attached(agent, probe):
    return agent.metrics().get(("emitd_probe_attached", frozenset({("probe", probe)})))


def run_binary(path, *args):
    p = subprocess.run([path, *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_strict_exits_naming_the_probe(tmp_path):
    require_environment()
    later = str(tmp_path / "nowhere" / "demo-target")
    spec, line = write_spec(tmp_path, later)
    pin_root = f"/sys/fs/bpf/emitd-test-{os.getpid()}-strict"
    for extra in ((), ("--attach-policy", "strict")):
        p = subprocess.run([EMITD, "run", "--spec", spec, "--listen", "127.0.0.1:0",
                            "--pin-root", pin_root, *extra],
                           cwd=ROOT, capture_output=True, text=True, timeout=30)
        shutil.rmtree(pin_root, ignore_errors=True)
        assert p.returncode == 1, (extra, p.returncode, p.stderr)
        assert f"{spec}:{line}:" in p.stderr and later in p.stderr, p.stderr
        assert "target later" in p.stderr, p.stderr


def test_attach_policy_is_validated(tmp_path):
    require_environment()
    spec, _ = write_spec(tmp_path, DEMO)
    p = subprocess.run([EMITD, "run", "--spec", spec, "--attach-policy", "lenient"],
                       cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, p.stderr
    assert "--attach-policy: invalid value 'lenient' (expected strict|best-effort)" in p.stderr
    h = subprocess.run([EMITD, "run", "--help"], capture_output=True, text=True, timeout=10)
    assert "--attach-policy strict|best-effort" in h.stdout
    assert "--pid-file FILE" in h.stdout


def test_best_effort_serves_the_good_probes_and_attaches_the_missing_binary(agent_factory,
                                                                           tmp_path):
    app = tmp_path / "app" / "v1"             # neither directory exists yet
    later = str(app / "demo-target")
    spec, line = write_spec(tmp_path, later)
    a = agent_factory(spec=spec, extra=("--attach-policy", "best-effort"))
    a.wait_ready()
    status, body = healthz(a)
    print(f"best-effort, a binary missing: /healthz {status} {body!r}")
    assert status == 200, body
    assert body.startswith("ok: 2 of 3 probes attached\n"), body
    assert "probe demo:payload (metric policy_later_total, target later): not attached" in body
    assert f"{spec}:{line}:" in a.log_text() and later in a.log_text(), a.log_text()
    assert attached(a, "demo:payload") == 0
    assert attached(a, "handle_request") == 1
    assert attached(a, "demo:request_done") == 1
    assert target_up(a, "later") == 0 and target_up(a, "demo") == 1

    summ = demo_summary(run_binary(DEMO, "--events", "400", "--rate", "0"))
    assert summ[("iterations", frozenset())] == 400
    assert wait_drained(a, 400, "policy_request_done_total") == 400
    m = a.metrics()
    assert sample(m, "policy_later_total") == 0
    for (name, labels), v in summ.items():
        if name == "requests_total":
            assert sample(m, "policy_requests_total", **dict(labels)) == v

    # the binary appears: two directories, then the file
    os.makedirs(app)
    copy_exec(DEMO, later)
    assert wait_until(lambda: attached(a, "demo:payload") == 1, timeout=5), a.log_text()
    assert wait_until(lambda: healthz(a) == (200, "ok\n"), timeout=5), healthz(a)
    assert target_up(a, "later") == 1
    run_binary(later, "--events", "250", "--rate", "0")
    assert wait_drained(a, 250, "policy_later_total") == 250
    # the demo target's probes are on build/demo-target's inode, not on this copy
    assert sample(a.metrics(), "policy_request_done_total") == 400


def test_best_effort_retries_a_missing_symbol_when_the_binary_changes(agent_factory,
                                                                      tmp_path):
    later = str(tmp_path / "app")
    copy_exec(DEMO, later)                    # present, but without label:hit
    spec, _ = write_spec(tmp_path, later, "usdt: 'label:hit'")
    a = agent_factory(spec=spec, extra=("--attach-policy", "best-effort"))
    a.wait_ready()
    assert attached(a, "label:hit") == 0
    assert "USDT probe label:hit not found" in a.log_text()
    assert target_up(a, "later") == 1         # the target is there; one probe is not
    status, body = healthz(a)
    assert status == 200 and "probe label:hit" in body, body
    time.sleep(0.5)
    tries = a.log_text().count("USDT probe label:hit not found")
    assert tries == 1, a.log_text()           # no retry while the binary stays as it is
    copy_exec(LABEL_TARGET, later)            # the deploy that brings the probe
    assert wait_until(lambda: attached(a, "label:hit") == 1, timeout=5), a.log_text()
    values = tmp_path / "values"
    values.write_text("7 6869\n5 686f\n")
    out = run_binary(later, str(values))
    assert "events 12" in out, out
    assert wait_drained(a, 12, "policy_later_total") == 12


def test_best_effort_waits_for_a_pid_file(agent_factory, tmp_path):
    pidfile = str(tmp_path / "demo.pid")
    spec, _ = write_spec(tmp_path, DEMO)
    a = agent_factory(spec=spec, extra=("--attach-policy", "best-effort", "--pid-file", pidfile))
    a.wait_ready()
    status, body = healthz(a)
    assert status == 200 and f"waiting for {pidfile}" in body, (status, body)
    assert target_up(a) == 0
    demo = subprocess.Popen([DEMO, "--events", "300", "--rate", "0", "--wait-signal"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "waiting for SIGUSR1" in demo.stderr.readline()
        with open(pidfile + ".tmp", "w") as f:
            f.write(f"{demo.pid}\n")
        os.rename(pidfile + ".tmp", pidfile)
        assert wait_until(lambda: f"names pid {demo.pid}" in a.log_text(), timeout=10), \
            a.log_text()
        assert wait_until(lambda: target_up(a) == 1, timeout=5)
        demo.send_signal(signal.SIGUSR1)
        finish_demo(demo)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    assert wait_drained(a, 300, "policy_request_done_total") == 300
    # a process that is not the pid's is not counted
    run_binary(DEMO, "--events", "10", "--rate", "0")
    time.sleep(0.3)
    assert sample(a.metrics(), "policy_request_done_total") == 300
