"""deploy/emitd.service, tested without systemd as PID 1 (issue 11, item 6).

The agent runs as the unit would run it: the `emitd` system user, the unit's
AmbientCapabilities as ambient set, its CapabilityBoundingSet as bounding
set, NoNewPrivileges, and a pin root made the way its ExecStartPre makes it
(install -d -o emitd -g emitd -m 0700). With exactly that it must attach to
the demo target and count exactly, as tests/integration/test_core.py does as
root.
"""
import os
import re
import signal
import subprocess

import pytest

from conftest import (DEMO_SPEC, EMITD, ROOT, Agent, free_port, require_environment, run_demo,
                      sample)
from test_core import N, check_counts, demo_summary, drained
from test_privileges import caps, report, threads

UNIT = os.path.join(ROOT, "deploy", "emitd.service")


def unit_values(key):
    """Every value of @key= in the unit's [Service] section."""
    with open(UNIT) as f:
        text = f.read()
    service = text.split("[Service]", 1)[1].split("\n[", 1)[0]
    return [m.group(1).strip() for m in re.finditer(rf"^{key}=(.*)$", service, re.M)]


def unit_caps(key):
    (line,) = unit_values(key)
    names = line.split()
    assert names and all(n.startswith("CAP_") for n in names), line
    return [n[4:].lower() for n in names]


def cap_mask(names):
    bits = {"dac_read_search": 2, "sys_ptrace": 19, "sys_admin": 21, "bpf": 39, "perfmon": 38}
    return sum(1 << bits[n] for n in names)


def ensure_user():
    subprocess.run(["sh", "-c", "getent passwd emitd >/dev/null || useradd --system "
                    "--user-group --no-create-home --home-dir /nonexistent "
                    "--shell /usr/sbin/nologin emitd"], check=True)


class UnitAgent(Agent):
    """Agent, started through setpriv with the unit's user and capabilities."""

    def __init__(self, tmp_path, extra=()):
        ensure_user()
        self.port = free_port()
        self.listen = f"127.0.0.1:{self.port}"
        self.pin_root = f"/sys/fs/bpf/emitd-test-{os.getpid()}-{self.port}-unit"
        # what ExecStartPre does for /sys/fs/bpf/emitd
        subprocess.run(["install", "-d", "-o", "emitd", "-g", "emitd", "-m", "0700",
                        self.pin_root], check=True)
        ambient = ",".join(f"+{c}" for c in unit_caps("AmbientCapabilities"))
        bounding = ",".join(f"+{c}" for c in unit_caps("CapabilityBoundingSet"))
        assert unit_values("NoNewPrivileges") == ["yes"]
        assert unit_values("User") == ["emitd"] and unit_values("Group") == ["emitd"]
        self.log_path = os.path.join(tmp_path, f"agent-{self.port}.log")
        self.args = ["setpriv", "--reuid", "emitd", "--regid", "emitd", "--init-groups",
                     "--inh-caps", f"-all,{ambient}", "--ambient-caps", ambient,
                     "--bounding-set", f"-all,{bounding}", "--no-new-privs",
                     EMITD, "run", "--spec", DEMO_SPEC, "--listen", self.listen,
                     "--pin-root", self.pin_root, "--interval-ms", "100", *extra]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.args, cwd=ROOT, stdout=self.log,
                                     stderr=subprocess.STDOUT)


@pytest.fixture
def unit_agent(tmp_path):
    require_environment()
    a = UnitAgent(str(tmp_path))
    yield a
    a.stop()


def test_unit_capabilities_are_the_measured_set():
    want = ["sys_admin", "dac_read_search", "sys_ptrace"]
    assert sorted(unit_caps("AmbientCapabilities")) == sorted(want)
    assert sorted(unit_caps("CapabilityBoundingSet")) == sorted(want)
    assert unit_values("ExecStart") == ["/usr/sbin/emitd run --spec /etc/emitd/emitd.yml"]
    assert unit_values("ExecReload") == ["/bin/kill -HUP $MAINPID"]
    assert unit_values("ReadWritePaths") == ["/sys/fs/bpf/emitd"]
    assert unit_values("RestrictAddressFamilies") == ["AF_INET AF_INET6 AF_UNIX"]
    for key, value in (("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                       ("PrivateTmp", "yes")):
        assert unit_values(key) == [value], key
    assert int(unit_values("LimitNOFILE")[0]) >= 1024 + 256   # 1024 HTTP connections + BPF fds


def test_exact_counts_as_the_units_user(unit_agent):
    a = unit_agent
    a.wait_ready()
    st = threads(a.proc.pid)
    comm, main = st[a.proc.pid]
    assert int(main["Uid"].split()[1]) != 0, report(st)          # euid: emitd, not root
    assert caps(main, "CapEff") == cap_mask(unit_caps("AmbientCapabilities")), report(st)
    assert main["NoNewPrivs"] == "1"
    for tid, (comm, s) in st.items():
        if comm in ("MHD-worker", "emitd-http"):
            assert caps(s, "CapEff") == 0 and s["Seccomp"] == "2", report(st)
    summ = demo_summary(run_demo("--events", str(N), "--rate", "0"))
    drained(a, "demo_request_latency_seconds_count", N)
    m = drained(a, "demo_trigger_normalization_events_total",
                summ[("trigger_normalization_events", frozenset({("context", "budget_buffer")}))],
                context="budget_buffer")
    check_counts(m, summ)
    # the pins are the emitd user's, 0600
    st_pin = os.stat(os.path.join(a.pin_root, "counters"))
    assert st_pin.st_mode & 0o777 == 0o600
    assert st_pin.st_uid == int(subprocess.check_output(["id", "-u", "emitd"]))


def test_pid_target_of_another_user(tmp_path):
    """CAP_SYS_PTRACE is in the set for this: a --pid target run by nobody."""
    require_environment()
    demo = subprocess.Popen(["setpriv", "--reuid", "nobody", "--regid", "nogroup",
                             "--clear-groups", os.path.join(ROOT, "build", "demo-target"),
                             "--events", "500", "--rate", "0", "--wait-signal"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    b = None
    try:
        assert "waiting for SIGUSR1" in demo.stderr.readline()
        b = UnitAgent(str(tmp_path), extra=("--pid", str(demo.pid)))
        b.wait_ready()
        demo.send_signal(signal.SIGUSR1)
        out, _ = demo.communicate(timeout=60)
        assert demo.returncode == 0
        m = drained(b, "demo_request_latency_seconds_count", 500)
        routes = {dict(l)["route"]: v for (n, l), v in demo_summary(out).items()
                  if n == "requests_total"}
        assert sum(routes.values()) == 500
        for route, v in routes.items():
            assert sample(m, "demo_requests_total", route=route) == v
    finally:
        if demo.poll() is None:
            demo.kill()
        if b:
            b.stop()
