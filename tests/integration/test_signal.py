"""Signal metrics end to end: the demo's correlated sensors give a healthy
resilience zone; with one sensor made independent the zone turns to attention.
Read through /snapshot (MetricsSnapshot v1), `emitd snapshot` and /metrics.
"""
import json
import subprocess
import time

from conftest import DEMO, EMITD, ROOT, sample, wait_until

WINDOW = 300      # grid points: 300 drains of 20 ms = 6 s
ARGS = ("--signal-window", str(WINDOW), "--signal-every-drains", "25")


def snapshot(agent):
    _, h, body = agent.get("/snapshot")
    assert h["Content-Type"].startswith("application/json")
    return json.loads(body)


def settled_zone(agent, want, timeout=40):
    """Wait until a full window of fresh samples gives zone `want` twice."""
    seen = []

    def ok():
        s = snapshot(agent)
        res = s["resilience"]
        seen.append((s["window"]["aligned_samples"], res["r"], res["zone"]))
        if s["window"]["aligned_samples"] < WINDOW:
            return None
        return s if [z for _, _, z in seen[-2:]] == [want, want] else None
    s = wait_until(ok, timeout=timeout, interval=0.5)
    assert s, f"zone never settled on {want}: {seen[-6:]}"
    return s


def run_demo_mode(mode):
    return subprocess.Popen([DEMO, "--rate", "2000", "--sensor-mode", mode], cwd=ROOT,
                            stdout=subprocess.DEVNULL)


def test_zone_changes_with_an_independent_sensor(agent_factory):
    a = agent_factory(interval_ms=20, extra=ARGS)
    a.wait_ready()
    demo = run_demo_mode("normal")
    try:
        s = settled_zone(a, "healthy")
    finally:
        demo.terminate()
        demo.wait()
    assert s["version"] == 1
    assert s["signal"]["valid"] is True
    assert s["window"]["channels_included"] == 4
    assert s["resilience"]["r"] >= 0.5
    ranking = s["resilience"]["criticality"]["ranking"]
    assert len(ranking) == 4
    assert [r["delta_r"] for r in ranking] == sorted((r["delta_r"] for r in ranking),
                                                     reverse=True)
    # unique information: H(X_k | rest), never above the channel's own entropy
    h = {c["channel_id"]: c["h"] for c in s["signal"]["h_per_channel"]}
    for r in ranking:
        assert r["unique_bits"] <= h[r["channel_id"]] + 1e-9, r
    assert s["payload"]["frame_size_bytes"] > 0 and 0 < s["payload"]["h_bytes"] <= 8
    m = a.metrics()
    assert sample(m, "emitd_resilience_zone", zone="healthy") == 1
    assert sample(m, "emitd_resilience_zone", zone="attention") == 0
    channels = [c for (n, l), _ in m.items() if n == "emitd_channel_criticality" for _, c in l]
    assert len(channels) == 4
    for c in channels:
        assert sample(m, "emitd_channel_unique_information", channel=c) <= \
            sample(m, "emitd_signal_entropy", channel=c) + 1e-9

    demo = run_demo_mode("independent")
    try:
        # after the switch a whole window must turn over before the zone moves
        time.sleep(WINDOW * 0.02)
        s = settled_zone(a, "attention")
    finally:
        demo.terminate()
        demo.wait()
    assert 0.2 <= s["resilience"]["r"] < 0.5
    m = a.metrics()
    assert sample(m, "emitd_resilience_zone", zone="attention") == 1
    assert sample(m, "emitd_resilience_zone", zone="healthy") == 0

    # the CLI prints the same document
    p = subprocess.run([EMITD, "snapshot", "--url", a.url("/snapshot")],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["version"] == 1


def test_snapshot_invalid_before_enough_samples(agent_factory):
    a = agent_factory(interval_ms=1000, extra=ARGS)
    a.wait_ready()
    s = snapshot(a)
    assert s["signal"]["valid"] is False
    assert s["invalid_reason"] in ("no_channels", "insufficient_samples")
    assert "NaN" not in json.dumps(s)


def test_snapshot_cli_reports_unreachable_agent():
    p = subprocess.run([EMITD, "snapshot", "--url", "http://127.0.0.1:1/snapshot"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1
    assert "127.0.0.1:1" in p.stderr
