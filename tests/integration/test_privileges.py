"""Least privilege (issue 10, item 4).

The serving agent keeps only what attaching needs, measured on Linux 6.18
(README, "Running as a node agent"): CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE and
CAP_SYS_ADMIN, in its permitted, effective and bounding sets, with
NoNewPrivs. The threads that parse network input (MHD's workers and the HTTP
watchdog, started from the `emitd-http` thread) hold no capability at all and
run under one seccomp filter; tests/test_privs.c shows what that filter
refuses. /metrics works as before under it, gzip and OpenMetrics included.
Before: every thread held CapEff=000001fffeffffff, NoNewPrivs 0, Seccomp 0.
"""
import gzip
import http.client
import json
import os
import re
import subprocess

from conftest import EMITD, DEMO_SPEC, ROOT, free_port, run_demo, sample, wait_until

# CAP_DAC_READ_SEARCH (2), CAP_SYS_PTRACE (19), CAP_SYS_ADMIN (21)
KEEP = (1 << 2) | (1 << 19) | (1 << 21)
HTTP_THREADS = ("MHD-worker", "emitd-http")


def threads(pid):
    """tid -> (comm, {status field: value}) for every thread of @pid."""
    out = {}
    for tid in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
        base = f"/proc/{pid}/task/{tid}"
        with open(f"{base}/comm") as f:
            comm = f.read().strip()
        with open(f"{base}/status") as f:
            st = dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)
        out[int(tid)] = (comm, st)
    return out


def caps(st, field):
    return int(st[field], 16)


def report(ts):
    return "\n".join(f"{tid} {comm:12} CapPrm={st['CapPrm']} CapEff={st['CapEff']} "
                     f"CapBnd={st['CapBnd']} NoNewPrivs={st['NoNewPrivs']} "
                     f"Seccomp={st['Seccomp']} filters={st.get('Seccomp_filters')}"
                     for tid, (comm, st) in ts.items())


def test_threads_that_parse_network_input_hold_no_capabilities(agent_factory):
    a = agent_factory()
    a.wait_ready()
    a.get("/metrics")
    ts = threads(a.proc.pid)
    print("\n" + report(ts))
    comm, main = ts[a.proc.pid]
    # the main thread: what attaching needs, and no more, ever
    for field in ("CapPrm", "CapEff", "CapBnd"):
        assert caps(main, field) == KEEP, f"main thread {field}={main[field]}\n{report(ts)}"
    assert caps(main, "CapInh") == 0 and caps(main, "CapAmb") == 0, report(ts)
    assert main["NoNewPrivs"] == "1", report(ts)
    assert main["Seccomp"] == "0", report(ts)
    # the HTTP threads: nothing at all, under seccomp
    http = {tid: st for tid, (comm, st) in ts.items() if comm in HTTP_THREADS}
    names = [comm for comm, _ in ts.values()]
    assert names.count("emitd-http") == 1, f"no watchdog started from emitd-http:\n{report(ts)}"
    assert names.count("MHD-worker") >= 1, report(ts)
    for tid, st in http.items():
        for field in ("CapPrm", "CapEff", "CapInh", "CapAmb"):
            assert caps(st, field) == 0, f"thread {tid} {field}={st[field]}\n{report(ts)}"
        assert st["NoNewPrivs"] == "1", report(ts)
        assert st["Seccomp"] == "2", report(ts)
        assert st["Seccomp_filters"] == "1", report(ts)
    # and no thread holds, or could regain, anything beyond the kept set
    for tid, (comm, st) in ts.items():
        for field in ("CapPrm", "CapEff", "CapBnd"):
            assert caps(st, field) & ~KEEP == 0, f"{tid} {comm} {field}={st[field]}"
        assert st["NoNewPrivs"] == "1", f"{tid} {comm}"
    assert "privileges: NoNewPrivs set; capabilities cap_dac_read_search,cap_sys_ptrace,cap_sys_admin=ep" \
        in a.log_text()


def wrk(url, header, seconds=2):
    p = subprocess.run(["wrk", "-t2", "-c8", f"-d{seconds}s", "-H", header, url],
                       capture_output=True, text=True, timeout=seconds + 30)
    assert p.returncode == 0, p.stderr
    assert "Non-2xx" not in p.stdout and "Socket errors" not in p.stdout, p.stdout
    n = int(re.search(r"(\d+) requests in", p.stdout).group(1))
    assert n > 50, p.stdout
    return n


def test_metrics_work_under_seccomp_and_load(agent_factory):
    a = agent_factory(extra=("--drain-on-scrape",))   # scrapes wake the loop (eventfd)
    a.wait_ready()
    run_demo("--events", "1000", "--rate", "0")
    assert wait_until(lambda: a.metrics().get(("demo_request_latency_seconds_count", frozenset())) == 1000)
    om = "application/openmetrics-text;version=1.0.0"
    wrk(a.url("/metrics"), "Accept-Encoding: gzip")
    wrk(a.url("/metrics"), f"Accept: {om}")
    # one keep-alive connection through every format and endpoint
    c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=5)
    for i in range(40):
        hdrs = [{}, {"Accept-Encoding": "gzip"}, {"Accept": om},
                {"Accept": om, "Accept-Encoding": "gzip"}][i % 4]
        c.request("GET", "/metrics", headers=hdrs)
        r = c.getresponse()
        body = r.read()
        assert r.status == 200, (i, r.status)
        if "gzip" in hdrs.values():
            assert r.getheader("Content-Encoding") == "gzip"
            body = gzip.decompress(body)
        text = body.decode()
        assert "demo_request_latency_seconds_count 1000" in text
        assert text.endswith("# EOF\n") == ("Accept" in hdrs)
    for method, path, want in (("GET", "/healthz", 200), ("HEAD", "/metrics", 200),
                               ("GET", "/normalization", 200), ("GET", "/nope", 404)):
        c.request(method, path)
        r = c.getresponse()
        body = r.read()
        assert r.status == want, (method, path, r.status)
        if path == "/normalization":
            json.loads(body)
    c.request("POST", "/metrics", body=b"x")
    r = c.getresponse()
    r.read()
    assert r.status == 405
    c.close()
    m = a.metrics()
    assert sample(m, "demo_request_latency_seconds_count") == 1000
    assert a.proc.poll() is None
    assert "error" not in a.log_text(), a.log_text()


def run_as_emitd(caps, tmp_path):
    """emitd run as the `emitd` system user holding only @caps (ambient)."""
    subprocess.run(["sh", "-c", "id emitd >/dev/null 2>&1 || useradd --system --user-group "
                    "--no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin emitd"],
                   check=True)
    pin_root = f"/sys/fs/bpf/emitd-test-{os.getpid()}-{free_port()}-caps"
    subprocess.run(["install", "-d", "-o", "emitd", "-g", "emitd", "-m", "0700", pin_root],
                   check=True)
    plus = ",".join(f"+{c}" for c in caps) or "-all"
    try:
        p = subprocess.run(["setpriv", "--reuid", "emitd", "--regid", "emitd", "--init-groups",
                            "--inh-caps", f"-all,{plus}" if caps else "-all",
                            "--ambient-caps", plus, "--bounding-set",
                            f"-all,{plus}" if caps else "-all",
                            EMITD, "run", "--spec", DEMO_SPEC, "--listen",
                            f"127.0.0.1:{free_port()}", "--pin-root", pin_root,
                            "--exit-after-ms", "2000"],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
    finally:
        subprocess.run(["rm", "-rf", pin_root])
    return p


def test_message_without_capabilities_tells_the_truth(tmp_path):
    p = run_as_emitd([], tmp_path)
    assert p.returncode == 1, p.stderr
    assert "emitd run needs root or CAP_SYS_ADMIN" in p.stderr, p.stderr
    assert "attaching uprobes needs CAP_SYS_ADMIN" in p.stderr, p.stderr


def test_bpf_and_perfmon_are_not_enough(tmp_path):
    """Measured: CAP_BPF and CAP_PERFMON load the programs, and the kernel then
    refuses the uprobe (perf_event_open: EACCES). emitd says so up front."""
    p = run_as_emitd(["bpf", "perfmon"], tmp_path)
    assert p.returncode == 1, p.stderr
    assert "without CAP_SYS_ADMIN" in p.stderr, p.stderr
    assert "Permission denied" in p.stderr, p.stderr
