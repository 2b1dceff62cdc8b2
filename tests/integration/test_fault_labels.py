"""String labels on pages the target never touched are counted (issue 12, item 9).

A probe cannot fault a page in: bpf_probe_read_user_str() fails on a string
whose page is not in the target's page tables (a literal in .rodata read
first by the probe, a page reclaimed or unmapped). Before, every such event
was dropped into emitd_probe_read_errors_total{what="label"} (300 of 300).
Now the handler sends the event down the sample lane with the string's
address, the agent reads it with process_vm_readv() and hands the event back
to the kernel (the emitd_replay program), which counts it as the probe would
have: under its real label, within the metric's budget (folding into
__other__), bucketed, cut and counted when too long.

build/tests/fault_target (tests/targets/fault_target.c) fires
fault:hit(label, value) over three labels, event i with label i % 3 and
value i % 10, and checks with /proc/self/pagemap (and mincore()) that the
label's page is absent before it fires: `rodata` (string literals in an
untouched 4 MiB constant, the executable's page cache dropped), `evict` (a
file mapping unmapped before each event, optionally its page cache dropped).
specs/fault.yml counts the hits by label (budget 8) and a histogram of the
values by label (budget 2: "fault/alpha" and __other__).

Every event is counted once: in a series, or as a label read error (the
process was gone when the agent read), or as label_deferred_lost (the
sample ring had no room). Records sent while no agent runs wait in the
pinned ring for the next one.
"""
import os
import signal
import subprocess

import pytest

from conftest import ROOT, Agent, require_environment, wait_until

TARGET = os.path.join(ROOT, "build", "tests", "fault_target")
SPEC = os.path.join(ROOT, "tests", "integration", "specs", "fault.yml")
LABELS = ["fault/alpha", "fault/beta", "fault/gamma/longer-than-a-label-holds"]
SHOWN = [v[:31] for v in LABELS]        # a label holds 31 bytes
HITS = "fault_hits_total"
VALUES = "fault_hit_values"
BOUNDS = [1, 4, 8]                      # specs/fault.yml
METRICS = 2                             # each event feeds both: two deferred records


@pytest.fixture
def agent(tmp_path):
    require_environment()
    if not os.access(TARGET, os.X_OK):
        pytest.fail(f"{TARGET} is missing (make test-integration builds it)")
    made = []

    def make(*extra, pin_root=None):
        a = Agent(SPEC, str(tmp_path), extra=extra, pin_root=pin_root)
        made.append(a)
        a.wait_ready()
        return a

    yield make
    for a in reversed(made):
        if a.proc.poll() is None:
            a.proc.send_signal(signal.SIGCONT)
        a.stop()


class Target:
    """fault_target, held alive (stdin open) until stop(), so its memory stays readable."""

    def __init__(self, *args, hold=True):
        self.proc = subprocess.Popen([TARGET, *args] + (["--hold"] if hold else []),
                                     cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.summary = {}
        for _ in range(2):
            line = self.proc.stdout.readline()
            if not line:
                _, err = self.proc.communicate(timeout=10)
                pytest.fail(f"fault_target failed ({self.proc.returncode}): {err}")
            k, v = line.split()
            self.summary[k] = int(v)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(10)
        assert self.proc.returncode == 0, self.proc.stderr.read()


def per_label(m, name):
    """label -> count of @name over the events' labels and __other__, 0 when absent."""
    return {lv: m.get((name, frozenset({("label", lv)})), 0)
            for lv in SHOWN + ["__other__"]}


def expected_hits(n):
    return {SHOWN[k]: len(range(k, n, 3)) for k in range(3)} | {"__other__": 0}


def errors(m, what):
    return m[("emitd_probe_read_errors_total", frozenset({("what", what)}))]


def self_value(m, name):
    return m[(name, frozenset())]


def wait_counted(a, want_hits, timeout=30):
    """The page once every event of both metrics is in a series (two drains later)."""
    def done():
        m = a.metrics()
        hits = sum(per_label(m, HITS).values())
        vals = sum(per_label(m, VALUES + "_count").values())
        return m if hits == want_hits and vals == want_hits else None
    m = wait_until(done, timeout=timeout, interval=0.1)
    if not m:
        m = a.metrics()
        pytest.fail(f"never counted {want_hits} events: {per_label(m, HITS)}, label read "
                    f"errors {errors(m, 'label')}\n{a.log_text()[-2000:]}")
    return m


def assert_values(m, n):
    """The histogram: "fault/alpha" admitted (its first event came first), the rest folded."""
    alpha = [v for i, v in enumerate(i % 10 for i in range(n)) if i % 3 == 0]
    other = [i % 10 for i in range(n) if i % 3 != 0]
    for lv, vals in ((SHOWN[0], alpha), ("__other__", other)):
        assert m[(VALUES + "_count", frozenset({("label", lv)}))] == len(vals), lv
        assert m[(VALUES + "_sum", frozenset({("label", lv)}))] == sum(vals), lv
        for b in BOUNDS:
            key = (VALUES + "_bucket", frozenset({("label", lv), ("le", f"{b:.1f}")}))
            assert m[key] == sum(1 for v in vals if v <= b), (lv, b)
    assert per_label(m, VALUES + "_count")[SHOWN[1]] == 0


def assert_closed(m, n):
    """Every event once: in a series or a drop counter; deferred = replayed + failed + lost."""
    counted = sum(per_label(m, HITS).values()) + sum(per_label(m, VALUES + "_count").values())
    dropped = errors(m, "label") + errors(m, "label_deferred_lost") + errors(m, "value")
    assert counted + dropped == METRICS * n
    assert self_value(m, "emitd_events_total") == METRICS * n
    assert self_value(m, "emitd_label_deferred_total") == \
        self_value(m, "emitd_label_replayed_total") + errors(m, "label")


def test_rodata_literals_never_touched(agent):
    """The issue's case: 300 events, string literals on .rodata pages nothing read."""
    n = 300
    a = agent()
    t = Target("rodata", str(n))
    try:
        assert t.summary == {"events": n, "cold": t.summary["cold"]}
        assert t.summary["cold"] >= 3, "the first event of each label must find its page absent"
        m = wait_counted(a, n)
    finally:
        t.stop()
    assert per_label(m, HITS) == expected_hits(n)
    assert_values(m, n)
    assert errors(m, "label") == 0
    assert errors(m, "label_deferred_lost") == 0
    # the first event of each label was deferred, for both metrics
    assert self_value(m, "emitd_label_deferred_total") >= 3 * METRICS
    assert self_value(m, "emitd_label_truncated_total") == METRICS * len(range(2, n, 3))
    assert_closed(m, n)


def test_page_cache_dropped_before_each_event(agent, tmp_path):
    """A file page neither mapped nor in memory (mincore) before each event."""
    n = 300
    a = agent()
    t = Target("evict", str(n), "1000", str(tmp_path / "labels.bin"), "--drop-cache")
    try:
        assert t.summary == {"events": n, "cold": n}, "pages the target could not evict"
        m = wait_counted(a, n)
    finally:
        t.stop()
    assert per_label(m, HITS) == expected_hits(n)
    assert_values(m, n)
    assert errors(m, "label") == 0 and errors(m, "label_deferred_lost") == 0
    assert self_value(m, "emitd_label_deferred_total") >= n * METRICS * 0.9
    assert_closed(m, n)


def test_deferred_under_load(agent, tmp_path):
    """10,000 events at 3,000/s, each label page unmapped just before its event."""
    n = 10000
    a = agent()
    t = Target("evict", str(n), "3000", str(tmp_path / "labels.bin"))
    try:
        assert t.summary == {"events": n, "cold": n}, "pages the target could not unmap"
        m = wait_counted(a, n)
    finally:
        t.stop()
    deferred = self_value(m, "emitd_label_deferred_total")
    print(f"\n{n} events, 2 metrics: {deferred:.0f} deferred, "
          f"{self_value(m, 'emitd_label_replayed_total'):.0f} replayed")
    assert per_label(m, HITS) == expected_hits(n)
    assert_values(m, n)
    assert errors(m, "label") == 0 and errors(m, "label_deferred_lost") == 0
    # the agent may map a page back between the target's check and its event
    assert deferred >= n * METRICS * 0.9
    assert_closed(m, n)


def test_full_ring_counts_the_lost(agent, tmp_path):
    """The agent stopped, a 4 KiB sample ring: what does not fit is label_deferred_lost."""
    n = 200
    a = agent("--ringbuf-bytes", "4096")
    a.proc.send_signal(signal.SIGSTOP)
    try:
        t = Target("evict", str(n), "100000", str(tmp_path / "labels.bin"))
    finally:
        a.proc.send_signal(signal.SIGCONT)
    try:
        def settled():
            m = a.metrics()
            counted = sum(per_label(m, HITS).values()) + \
                sum(per_label(m, VALUES + "_count").values())
            lost = errors(m, "label_deferred_lost")
            return m if counted + lost == METRICS * n else None
        m = wait_until(settled, timeout=20, interval=0.1)
        assert m, f"events neither counted nor lost:\n{a.log_text()[-2000:]}"
    finally:
        t.stop()
    lost = errors(m, "label_deferred_lost")
    assert 0 < lost < METRICS * n
    assert errors(m, "label") == 0
    assert self_value(m, "emitd_label_deferred_total") == METRICS * n - lost
    assert_closed(m, n)


def test_process_gone_counts_label_errors(agent, tmp_path):
    """The target exits before the agent reads: each event is a label read error."""
    n = 30
    a = agent()
    a.proc.send_signal(signal.SIGSTOP)
    try:
        t = Target("evict", str(n), "100000", str(tmp_path / "labels.bin"), hold=False)
        t.stop()
    finally:
        a.proc.send_signal(signal.SIGCONT)
    m = wait_until(lambda: (lambda m: m if errors(m, "label") == METRICS * n else None)(
        a.metrics()), timeout=20, interval=0.1)
    assert m, f"the reads of a gone process were not counted:\n{a.log_text()[-2000:]}"
    assert sum(per_label(m, HITS).values()) == 0
    assert self_value(m, "emitd_label_replayed_total") == 0
    assert self_value(m, "emitd_label_deferred_total") == METRICS * n
    assert "No such process" in a.log_text()
    assert_closed(m, n)


def test_deferred_while_no_agent_runs(agent, tmp_path):
    """Records wait in the pinned ring after kill -9; the next agent counts them."""
    n = 60
    first = agent()
    first.proc.kill()
    first.proc.wait()
    t = Target("evict", str(n), "100000", str(tmp_path / "labels.bin"))
    try:
        assert t.summary == {"events": n, "cold": n}
        second = agent(pin_root=first.pin_root)
        m = wait_counted(second, n)
    finally:
        t.stop()
    assert per_label(m, HITS) == expected_hits(n)
    assert_values(m, n)
    assert self_value(m, "emitd_label_replayed_total") == METRICS * n
    assert_closed(m, n)
