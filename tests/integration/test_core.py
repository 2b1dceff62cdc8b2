"""Core contract: N emission calls in the target give exactly N at /metrics.

The demo target prints what it emitted; the agent, attached before the target
starts (by binary path) or to its PID, must show exactly that once drained.
"""
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import (DEMO, DEMO_SPEC, EMITD, ROOT, gunzip, parse_exposition,
                      require_environment, run_demo, sample, wait_until)

N = 3000


def demo_summary(text):
    """The demo's `key value` summary, parsed like an exposition."""
    return parse_exposition("\n".join(l for l in text.splitlines()
                                      if l and not l.startswith("#")))


def drained(agent, name, want, **labels):
    """Wait until the agent shows `want` for a sample (drains are periodic)."""
    def ok():
        m = agent.metrics()
        key = (name, frozenset(labels.items()))
        return m if m.get(key) == want else None
    m = wait_until(ok, timeout=10)
    assert m, f"{name}{labels} never reached {want}: last {agent.metrics().get((name, frozenset(labels.items())))}"
    return m


def expected_from_summary(summ):
    """Split the demo summary into per-metric expectations."""
    exp = {}
    for (name, labels), v in summ.items():
        exp.setdefault(name, {})[labels] = v
    return exp


def at_rest(agent, summ):
    """The page once the sample lane caught up with the counts: f64 sums come
    from sample-lane records consumed at the drain after their event's count
    (README, Known limits), so they may trail by a drain."""
    want = summ[("payload_ratio_sum", frozenset())]

    def ok():
        m = agent.metrics()
        got = m.get(("demo_payload_ratio_sum", frozenset()))
        return m if got is not None and math.isclose(got, want, rel_tol=1e-12) else None
    m = wait_until(ok, timeout=10)
    assert m, f"demo_payload_ratio_sum never reached {want}"
    return m


def check_counts(m, summ):
    exp = expected_from_summary(summ)
    # counter with a string label
    routes = exp["requests_total"]
    assert sum(routes.values()) == N
    for labels, v in routes.items():
        assert sample(m, "demo_requests_total", **dict(labels)) == v
    # histograms: every cumulative bucket, +Inf, _count and _sum. The demo
    # reports latencies in microseconds; the spec exports seconds (scale 1e-6):
    # each bound and the exact integer sum over 1e6, correctly rounded.
    for demo_name, name, scale in (("request_latency_us", "request_latency_seconds", 1e6),
                                   ("payload_ratio", "payload_ratio", 1)):
        for labels, v in exp[f"{demo_name}_bucket"].items():
            le = dict(labels)["le"]
            got = [val for (n, l), val in m.items()
                   if n == f"demo_{name}_bucket" and
                   float(dict(l)["le"]) == float(le) / scale]
            assert got == [v], f"{name} le={le}/{scale}: got {got}, want {v}"
        assert sample(m, f"demo_{name}_count") == exp[f"{demo_name}_count"][frozenset()] == N
        assert sample(m, f"demo_{name}_bucket", le="+Inf") == N
    assert sample(m, "demo_request_latency_seconds_sum") == \
        exp["request_latency_us_sum"][frozenset()] / 1e6
    assert math.isclose(sample(m, "demo_payload_ratio_sum"),
                        exp["payload_ratio_sum"][frozenset()], rel_tol=1e-12)
    # gauges: the last value set
    assert sample(m, "demo_queue_depth") == exp["queue_depth_last"][frozenset()]
    for labels, v in exp["sensor_value_last"].items():
        assert sample(m, "demo_sensor_value", **dict(labels)) == v
    # normalization: exact events and zeroed per context
    for labels, v in exp["trigger_normalization_events"].items():
        assert sample(m, "demo_trigger_normalization_events_total", **dict(labels)) == v
    for labels, v in exp["trigger_normalization_zeroed"].items():
        assert sample(m, "demo_trigger_normalization_zeroed_total", **dict(labels)) == v
    # and nothing was dropped on the way
    for mp in ("counters", "gauges", "hists", "norms"):
        assert sample(m, "emitd_map_full_drops_total", map=mp) == 0
    assert sample(m, "emitd_ringbuf_dropped_total") == 0
    for what in ("value", "label", "config", "handler"):
        assert sample(m, "emitd_probe_read_errors_total", what=what) == 0


@pytest.mark.parametrize("extra", [(), ("--drain-per-key",)], ids=["batch", "per-key"])
def test_exact_counts_attach_by_binary(agent_factory, extra):
    """Attached by path before the target starts; the per-key fallback for
    kernels that refuse batch lookups is exact too."""
    a = agent_factory(extra=extra)
    a.wait_ready()
    summ = demo_summary(run_demo("--events", str(N), "--rate", "0"))
    drained(a, "demo_request_latency_seconds_count", N)
    drained(a, "demo_trigger_normalization_events_total",
            summ[("trigger_normalization_events", frozenset({("context", "budget_buffer")}))],
            context="budget_buffer")
    check_counts(at_rest(a, summ), summ)


def test_exact_counts_attach_by_pid(agent_factory):
    require_environment()
    demo = subprocess.Popen([DEMO, "--events", str(N), "--rate", "0", "--wait-signal"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        # SIGUSR1 before the demo blocks it would kill the demo: wait for it
        assert "waiting for SIGUSR1" in demo.stderr.readline()
        a = agent_factory(extra=("--pid", str(demo.pid)))
        a.wait_ready()
        demo.send_signal(signal.SIGUSR1)
        out, _ = demo.communicate(timeout=120)
        assert demo.returncode == 0
    finally:
        if demo.poll() is None:
            demo.kill()
    summ = demo_summary(out)
    drained(a, "demo_request_latency_seconds_count", N)
    check_counts(at_rest(a, summ), summ)
    # a process that is not the PID is not counted
    run_demo("--events", "10", "--rate", "0")
    time.sleep(0.3)
    assert sample(a.metrics(), "demo_request_latency_seconds_count") == N


def test_exact_counts_from_concurrent_processes(agent_factory):
    """Two targets at once, on both CPUs: per-CPU sums stay exact."""
    a = agent_factory()
    a.wait_ready()
    procs = [subprocess.Popen([DEMO, "--events", str(N), "--rate", "0"], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    m = drained(a, "demo_request_latency_seconds_count", 2 * N)
    one = demo_summary(outs[0])
    assert demo_summary(outs[1]) == one      # the demo is deterministic
    for (name, labels), v in one.items():
        if name == "requests_total":
            assert sample(m, "demo_requests_total", **dict(labels)) == 2 * v
        if name == "request_latency_us_bucket":       # the demo's microseconds
            le = float(dict(labels)["le"]) / 1e6
            got = [val for (n, l), val in m.items()
                   if n == "demo_request_latency_seconds_bucket" and float(dict(l)["le"]) == le]
            assert got == [2 * v]
    assert sample(m, "demo_request_latency_seconds_sum") == \
        2 * one[("request_latency_us_sum", frozenset())] / 1e6


def test_site_kinds_reported(agent_factory):
    a = agent_factory()
    a.wait_ready()
    m = a.metrics()
    sites = {dict(l)["probe"]: dict(l)["site"] for (n, l), _ in m.items()
             if n == "emitd_probe_site_info"}
    assert sites["demo:request_done"] == "nop5"
    assert sites["demo:payload"] == "nop5"
    assert sites["handle_request"] == "emulated"
    assert sites["drop_rounding_noise"] == "single-step"
    assert "site nop5 (optimized 5-byte nop)" in a.log_text()


def test_bpftool_dump_shows_field_names(agent_factory):
    a = agent_factory()
    a.wait_ready()
    run_demo("--events", "10", "--rate", "0")
    drained(a, "demo_request_latency_seconds_count", 10)
    for mp, fields in (("counters", ("metric_id", "labels", "value")),
                       ("hists_fixed", ("count", "sum", "slots")),
                       ("gauges", ("metric_id", "raw", "ktime_ns")),
                       ("gauges_fixed", ("raw", "ktime_ns", "updates")),
                       ("norms", ("metric_id", "events", "zeroed")),
                       ("metric_slots", ()),
                       ("sites", ("dev", "ino", "file_offset", "ref_ctr_offset", "metric_id"))):
        path = os.path.join(a.pin_root, mp)
        st = os.stat(path)
        assert st.st_mode & 0o777 == 0o600, f"{path} mode {oct(st.st_mode)}"
        p = subprocess.run(["bpftool", "-j", "map", "dump", "pinned", path],
                           capture_output=True, text=True, check=True)
        entries = json.loads(p.stdout)
        assert entries, f"{mp} is empty"
        text = json.dumps(entries[0])
        for f in fields:
            assert f'"{f}"' in text, f"bpftool dump of {mp} lacks field {f}: {text[:300]}"


def test_counts_survive_agent_restart(agent_factory):
    a = agent_factory()
    a.wait_ready()
    run_demo("--events", "100", "--rate", "0")
    drained(a, "demo_request_latency_seconds_count", 100)
    a.proc.send_signal(signal.SIGTERM)
    assert a.proc.wait(10) == 0
    b = agent_factory(pin_root=a.pin_root)
    b.wait_ready()
    m = b.metrics()
    assert sample(m, "demo_request_latency_seconds_count") == 100
    # the pinned stats remember samples of the old ring: not this ring's fill
    assert sample(m, "emitd_ringbuf_fill_ratio") == 0
    assert sample(m, "emitd_drain_shedding") == 0
    run_demo("--events", "50", "--rate", "0")
    drained(b, "demo_request_latency_seconds_count", 150)


def test_pinned_series_of_a_changed_metric_restart_from_zero(agent_factory, tmp_path):
    a = agent_factory()
    a.wait_ready()
    run_demo("--events", "100", "--rate", "0")
    drained(a, "demo_payload_ratio_count", 100)
    a.proc.send_signal(signal.SIGTERM)
    assert a.proc.wait(10) == 0
    spec, _ = bad_spec(tmp_path, "buckets: [0.1, 0.25, 0.5, 0.75, 0.9, 1]",
                       "buckets: [0.2, 0.4, 0.6, 0.8, 1]")
    b = agent_factory(spec=spec, pin_root=a.pin_root)
    b.wait_ready()
    m = b.metrics()
    assert sample(m, "demo_payload_ratio_count") == 0          # new buckets, new counts
    assert sample(m, "demo_request_latency_seconds_count") == 100   # unchanged metrics keep theirs
    assert "payload_ratio changed meaning" in b.log_text()


def test_gzip_and_openmetrics(agent_factory):
    a = agent_factory()
    a.wait_ready()
    run_demo("--events", "10", "--rate", "0")
    drained(a, "demo_request_latency_seconds_count", 10)
    status, h, plain = a.get("/metrics")
    assert h["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    status, h, body = a.get("/metrics", {"Accept-Encoding": "gzip"})
    assert h.get("Content-Encoding") == "gzip"
    assert parse_exposition(gunzip(body).decode()).keys() == parse_exposition(plain.decode()).keys()
    status, h, body = a.get("/metrics", {
        "Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"})
    assert h["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert body.decode().endswith("# EOF\n")
    assert "# TYPE demo_requests counter" in body.decode()


def test_sigterm_and_sigint_exit_zero(agent_factory):
    for sig in (signal.SIGTERM, signal.SIGINT):
        a = agent_factory()
        a.wait_ready()
        a.proc.send_signal(sig)
        assert a.proc.wait(10) == 0, a.log_text()
        assert "the probes stay attached" in a.log_text()     # emitd detach removes them


def bad_spec(tmp_path, old, new):
    with open(DEMO_SPEC) as f:
        text = f.read()
    assert old in text
    p = tmp_path / "spec.yml"
    p.write_text(text.replace(old, new, 1))
    line = text[:text.index(old)].count("\n") + 1
    return str(p), line


def run_agent_expect_failure(spec, port=None):
    port = port or 19999
    p = subprocess.run([EMITD, "run", "--spec", spec, "--listen", f"127.0.0.1:{port}",
                        "--pin-root", f"/sys/fs/bpf/emitd-fail-{os.getpid()}"],
                       cwd=ROOT, capture_output=True, text=True, timeout=30)
    shutil.rmtree(f"/sys/fs/bpf/emitd-fail-{os.getpid()}", ignore_errors=True)
    return p


def test_missing_symbol_names_the_spec_line(tmp_path):
    require_environment()
    spec, line = bad_spec(tmp_path, "uprobe: handle_request", "uprobe: no_such_function")
    p = run_agent_expect_failure(spec)
    assert p.returncode != 0
    assert f"{spec}:{line}:" in p.stderr, p.stderr
    assert "symbol no_such_function not found" in p.stderr, p.stderr


def test_missing_usdt_names_the_spec_line(tmp_path):
    require_environment()
    spec, line = bad_spec(tmp_path, "'demo:queue_depth'", "'demo:no_such_probe'")
    p = run_agent_expect_failure(spec)
    assert p.returncode != 0
    assert f"{spec}:{line}:" in p.stderr, p.stderr
    assert "USDT probe demo:no_such_probe not found" in p.stderr, p.stderr


def test_missing_binary_names_the_spec_line(tmp_path):
    require_environment()
    spec, line = bad_spec(tmp_path, "binary: build/demo-target", "binary: build/no-such-binary")
    p = run_agent_expect_failure(spec)
    assert p.returncode != 0
    assert f"{spec}:{line}:" in p.stderr, p.stderr
    assert "build/no-such-binary" in p.stderr and "No such file" in p.stderr, p.stderr


def test_port_in_use_is_a_clear_error():
    require_environment()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = run_agent_expect_failure(DEMO_SPEC, port)
    assert p.returncode != 0
    assert "address already in use" in p.stderr, p.stderr


def test_no_privileges_is_a_clear_error():
    require_environment()
    p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "--inh-caps=-all", EMITD, "run", "--spec", DEMO_SPEC,
                        "--listen", "127.0.0.1:0"],
                       cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "needs root" in p.stderr, p.stderr


def test_lint_cli():
    require_environment()
    p = subprocess.run([EMITD, "lint", DEMO_SPEC], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([EMITD, "lint", os.path.join(ROOT, "tests", "nonexistent.yml")],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "nonexistent.yml" in p.stderr


def test_metric_label_is_the_exported_name_everywhere(agent_factory):
    """Every emitd_* family with a `metric` label names the metric as /metrics
    exports it (namespace_name), never the spec's short name."""
    a = agent_factory()
    a.wait_ready()
    run_demo("--events", "10", "--rate", "0")
    drained(a, "demo_request_latency_seconds_count", 10)
    m = a.metrics()
    exported = {n for n, _ in m if not n.startswith("emitd_")}
    families = {}
    for (n, l), _ in m.items():
        d = dict(l)
        if n.startswith("emitd_") and "metric" in d:
            families.setdefault(n, set()).add(d["metric"])
    assert {"emitd_probe_site_info", "emitd_probe_hits_total",
            "emitd_cardinality_series"} <= set(families), families
    for n, names in families.items():
        for name in names:
            assert name.startswith("demo_"), f"{n}{{metric={name!r}}}: not the exported name"
            assert any(e == name or e.startswith(name + "_") for e in exported), (n, name)
