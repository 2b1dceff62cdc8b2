"""Normalization telemetry end to end: exact counts per context, means within
1e-12 of the demo's own, the CSV window equal to what the demo emitted, atomic
CSV replacement under a concurrent reader, and `emitd norm report`.
"""
import csv
import io
import json
import math
import os
import subprocess
import time

from conftest import DEMO, EMITD, ROOT, run_demo, sample, wait_until
from test_core import demo_summary, drained

N = 1500
CONTEXTS = ("budget_buffer", "fractional_credit", "carryover_credit")


def read_trace(path):
    with open(path, newline="") as f:
        return [(r[0], float(r[1]), float(r[2])) for r in csv.reader(f)]


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["timestamp_ms", "context", "before", "after"]
    return rows[1:]


def test_counts_means_and_csv_window(agent_factory, tmp_path):
    out = tmp_path / "norm.csv"
    a = agent_factory(extra=("--norm-csv", str(out), "--norm-csv-interval", "0.1"))
    a.wait_ready()
    trace = tmp_path / "trace.csv"
    summ = demo_summary(run_demo("--events", str(N), "--rate", "0", "--trace-norm", str(trace)))
    want = {c: summ[("trigger_normalization_events", frozenset({("context", c)}))]
            for c in CONTEXTS}
    m = drained(a, "demo_trigger_normalization_events_total", want["carryover_credit"],
                context="carryover_credit")
    assert sample(m, "emitd_ringbuf_dropped_total") == 0
    for c in CONTEXTS:
        lab = frozenset({("context", c)})
        events = summ[("trigger_normalization_events", lab)]
        assert sample(m, "demo_trigger_normalization_events_total", context=c) == events
        assert sample(m, "demo_trigger_normalization_zeroed_total", context=c) == \
            summ[("trigger_normalization_zeroed", lab)]
        assert sample(m, "demo_trigger_normalization_samples_total", context=c) == events
        for part in ("before", "after"):
            exp = summ[(f"trigger_normalization_{part}_abs_sum", lab)] / events
            got = sample(m, f"demo_trigger_normalization_{part}_abs_mean", context=c)
            assert math.isclose(got, exp, rel_tol=1e-12, abs_tol=1e-300), (c, part, got, exp)

    # /normalization carries the same summary
    _, h, body = a.get("/normalization")
    doc = json.loads(body)["metrics"]["demo_trigger_normalization"]
    ctx = {c["context"]: c for c in doc["contexts"]}
    for c in CONTEXTS:
        assert ctx[c]["events"] == want[c]
        assert ctx[c]["sample_coverage"] == 1

    # the CSV window is exactly what the demo emitted, in order, bit for bit
    emitted = read_trace(trace)
    assert len(emitted) == N

    def complete():
        return out.exists() and len(read_csv(out)) == N
    assert wait_until(complete, timeout=10), "CSV never held the whole window"
    rows = read_csv(out)
    got = [(r[1], float(r[2]), float(r[3])) for r in rows]
    assert got == emitted
    for r in rows:                      # round-trip precision: the text is exact
        assert float(r[2]) == float(repr(float(r[2])))
    assert [int(r[0]) for r in rows] == sorted(int(r[0]) for r in rows)

    # and the CLI report names every context
    p = subprocess.run([EMITD, "norm", "report", "--url", a.url("/normalization")],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    for c in CONTEXTS:
        assert c in p.stdout


def test_concurrent_reader_never_sees_a_partial_csv(agent_factory, tmp_path):
    out = tmp_path / "norm.csv"
    a = agent_factory(interval_ms=20,
                      extra=("--norm-csv", str(out), "--norm-csv-interval", "0.02"))
    a.wait_ready()
    demo = subprocess.Popen([DEMO, "--rate", "3000"], cwd=ROOT, stdout=subprocess.DEVNULL)
    reads = partial = 0
    try:
        assert wait_until(out.exists, timeout=10)
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            with open(out, newline="", encoding="utf-8") as f:
                text = f.read()
            reads += 1
            rows = list(csv.reader(io.StringIO(text)))
            if (not text.endswith("\n") or rows[0] != ["timestamp_ms", "context", "before", "after"]
                    or any(len(r) != 4 for r in rows)):
                partial += 1
    finally:
        demo.terminate()
        demo.wait()
    assert reads > 100
    assert partial == 0
    a.proc.terminate()                  # exports stop with the agent: no temp left
    assert a.proc.wait(10) == 0
    leftovers = [f for f in os.listdir(tmp_path) if ".tmp." in f]
    assert leftovers == []


def test_norm_report_against_unreachable_agent():
    p = subprocess.run([EMITD, "norm", "report", "--url", "http://127.0.0.1:1/normalization"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1 and "127.0.0.1:1" in p.stderr
