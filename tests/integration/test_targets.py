"""Targets that change under the agent: deploys, pid targets that exit, pid files.

- A binary-path target replaced on disk (a new file renamed over the old
  path, as package managers and deploy tools do: a new inode) is attached
  again; the old attachment stays while a process still runs the old file,
  then it is detached and unpinned.
- A pid target that exits is reported in the log, in /healthz (503, naming
  the target) and as emitd_target_up{target} 0.
- --pid-file FILE is read again when its process exits: the new process
  the file names is attached, and its counts are exact.
"""
import os
import shutil
import signal
import stat
import subprocess
import time
import urllib.error
import urllib.request


from conftest import DEMO, ROOT, sample, wait_until
from test_core import demo_summary
from test_restart import (finish_demo, pinned_links, spec_file, start_demo, stop_demos,
                          wait_drained)

assert stop_demos   # autouse here too: no target outlives its test

SITES = 6           # probe sites of spec/demo.yml in build/demo-target


def healthz(agent):
    """(status, body) of /healthz, 503 included."""
    try:
        with urllib.request.urlopen(agent.url("/healthz"), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def target_up(agent, target="demo"):
    return agent.metrics().get(("emitd_target_up", frozenset({("target", target)})))


def assert_unique_series(agent):
    """No two samples of /metrics share a name and label set."""
    _, _, body = agent.get("/metrics")
    keys = [l.rsplit(" ", 1)[0] for l in body.decode().splitlines() if l and l[0] != "#"]
    dups = {k for k in keys if keys.count(k) > 1}
    assert not dups, dups


def copy_exec(src, dst):
    """Write a new file next to @dst and rename it over @dst: a new inode."""
    tmp = dst + ".new"
    shutil.copyfile(src, tmp)
    os.chmod(tmp, 0o755)
    os.rename(tmp, dst)


def app_spec(tmp_path, binary):
    return spec_file(tmp_path, replace=[("binary: build/demo-target", f"binary: {binary}")])


def test_deploy_by_rename_is_attached_again_and_the_old_file_counts_on(agent_factory,
                                                                       tmp_path):
    app = str(tmp_path / "app")
    os.mkdir(app)
    binary = os.path.join(app, "demo-target")
    copy_exec(DEMO, binary)
    a = agent_factory(spec=app_spec(tmp_path, binary))
    a.wait_ready()
    assert len(pinned_links(a.pin_root)) == SITES
    old_ino = os.stat(binary).st_ino

    old = subprocess.Popen([binary, "--events", "5000", "--rate", "1000"], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    done = f"targets: binary {binary}: {SITES} sites attached"    # the refresh is over
    copy_exec(DEMO, binary)                  # the deploy: a new inode at the same path
    assert os.stat(binary).st_ino != old_ino
    t0 = time.monotonic()
    again = wait_until(lambda: done in a.log_text(), timeout=2)
    latency = time.monotonic() - t0
    print(f"redeploy: attached again {latency * 1000:.0f} ms after the rename" if again
          else "redeploy: not attached again")
    assert old.poll() is None, "the old process should still run"
    if again:   # both inodes are attached while the old process runs
        assert len(pinned_links(a.pin_root)) == 2 * SITES, pinned_links(a.pin_root)
        assert_unique_series(a)
    new = subprocess.Popen([binary, "--events", "1000", "--rate", "2000"], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    new_summ = finish_demo(new)
    old_summ = finish_demo(old)
    n_old = old_summ[("iterations", frozenset())]
    n_new = new_summ[("iterations", frozenset())]
    got = wait_drained(a, n_old + n_new)
    print(f"redeploy: counted {got - n_old:.0f} of {n_new:.0f} events of the new binary")
    assert got == n_old + n_new, f"old {n_old:.0f} + new {n_new:.0f}, counted {got}"
    m = a.metrics()
    for (name, labels), v in old_summ.items():
        if name == "requests_total":
            assert sample(m, "demo_requests_total", **dict(labels)) == \
                v + new_summ[(name, labels)]
    # no process runs the old file any more: its links go
    assert wait_until(lambda: len(pinned_links(a.pin_root)) == SITES, timeout=10), \
        f"{pinned_links(a.pin_root)}\n{a.log_text()}"
    assert "no process runs it any more" in a.log_text(), a.log_text()
    # and the new file keeps counting
    finish_demo(start_demo("--events", "10", "--rate", "0"))   # build/demo-target: not a target
    summ = finish_demo(subprocess.Popen([binary, "--events", "100", "--rate", "0"], cwd=ROOT,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True))
    assert summ[("iterations", frozenset())] == 100
    assert wait_drained(a, n_old + n_new + 100) == n_old + n_new + 100


def test_an_agent_restarted_after_a_deploy_keeps_the_old_file_counted(agent_factory,
                                                                       tmp_path):
    """kill -9 while both inodes are attached: the next agent adopts both."""
    app = str(tmp_path / "app")
    os.mkdir(app)
    binary = os.path.join(app, "demo-target")
    copy_exec(DEMO, binary)
    spec = app_spec(tmp_path, binary)
    a = agent_factory(spec=spec)
    a.wait_ready()
    old = subprocess.Popen([binary, "--events", "10000", "--rate", "1000"], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    copy_exec(DEMO, binary)
    assert wait_until(lambda: f"targets: binary {binary}: {SITES} sites attached" in
                      a.log_text(), timeout=5), a.log_text()
    a.proc.kill()
    a.proc.wait(10)
    b = agent_factory(spec=spec, pin_root=a.pin_root)
    b.wait_ready()
    assert old.poll() is None, "the old process should still run"
    log = b.log_text()
    assert log.count("a process still runs the binary it was attached to") == SITES, log
    assert len(pinned_links(b.pin_root)) == 2 * SITES
    new_summ = finish_demo(subprocess.Popen([binary, "--events", "700", "--rate", "0"],
                                            cwd=ROOT, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True))
    old_summ = finish_demo(old)
    n = old_summ[("iterations", frozenset())] + new_summ[("iterations", frozenset())]
    assert wait_drained(b, n) == n
    assert wait_until(lambda: len(pinned_links(b.pin_root)) == SITES, timeout=10), \
        b.log_text()


def test_an_exited_pid_target_is_reported(agent_factory):
    demo = start_demo("--events", "200", "--rate", "0", "--wait-signal")
    assert "waiting for SIGUSR1" in demo.stderr.readline()
    a = agent_factory(extra=("--pid", str(demo.pid)))
    a.wait_ready()
    assert healthz(a) == (200, "ok\n")
    assert target_up(a) == 1
    demo.send_signal(signal.SIGUSR1)
    finish_demo(demo)
    assert wait_drained(a, 200) == 200
    want = f"target demo (pid {demo.pid}) exited\n"
    got = wait_until(lambda: healthz(a)[0] == 503 and healthz(a), timeout=5)
    print(f"pid target exited: /healthz {healthz(a)}")
    assert got == (503, want), got
    assert target_up(a) == 0
    assert want.strip() in a.log_text(), a.log_text()
    assert a.proc.poll() is None           # the agent serves on what it counted
    assert sample(a.metrics(), "demo_request_latency_seconds_count") == 200


SERVICE = """#!/bin/sh
# a service manager in miniature: runs the demo, restarts it once, and
# writes each process's pid to the pid file (write, then rename)
for i in 1 2; do
    "$DEMO" --events "$EVENTS" --rate 0 --wait-signal >"$DIR/out.$i" 2>"$DIR/err.$i" &
    echo $! >"$PIDFILE.tmp"
    mv "$PIDFILE.tmp" "$PIDFILE"
    wait $!
    sleep 0.2
done
"""


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def waiting(path):
    return os.path.exists(path) and "waiting for SIGUSR1" in open(path).read()


def test_pid_file_is_read_again_when_the_service_restarts(agent_factory, tmp_path):
    events = 500
    d = str(tmp_path)
    pidfile = os.path.join(d, "demo.pid")
    script = os.path.join(d, "service.sh")
    with open(script, "w") as f:
        f.write(SERVICE)
    os.chmod(script, stat.S_IRWXU)
    svc = subprocess.Popen([script], cwd=ROOT, env={
        **os.environ, "DEMO": DEMO, "EVENTS": str(events), "DIR": d, "PIDFILE": pidfile})
    try:
        assert wait_until(lambda: waiting(os.path.join(d, "err.1")), timeout=10)
        first = read_pid(pidfile)
        a = agent_factory(extra=("--pid-file", pidfile))
        a.wait_ready()
        assert target_up(a) == 1
        os.kill(first, signal.SIGUSR1)
        assert wait_until(lambda: waiting(os.path.join(d, "err.2")) and
                          read_pid(pidfile) not in (0, first), timeout=20)
        second = read_pid(pidfile)
        assert wait_until(lambda: f"names pid {second}" in a.log_text(), timeout=10), \
            a.log_text()
        assert f"target demo (pid {first}) exited" in a.log_text()
        assert wait_until(lambda: healthz(a) == (200, "ok\n"), timeout=5), healthz(a)
        assert target_up(a) == 1
        os.kill(second, signal.SIGUSR1)
        assert svc.wait(30) == 0
    finally:
        if svc.poll() is None:
            svc.kill()
            svc.wait()
        for p in (read_pid(pidfile),):
            if p:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    s1 = demo_summary(open(os.path.join(d, "out.1")).read())
    s2 = demo_summary(open(os.path.join(d, "out.2")).read())
    assert s1[("iterations", frozenset())] == s2[("iterations", frozenset())] == events
    got = wait_drained(a, 2 * events)
    print(f"pid file restart: counted {got - events:.0f} of {events} events of the new process")
    assert got == 2 * events
    # the last process exited too: the file names no running process
    assert wait_until(lambda: healthz(a)[0] == 503, timeout=5)
    assert f"target demo (pid {second}) exited" in healthz(a)[1]
