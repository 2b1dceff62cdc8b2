"""Agent restarts lose nothing: probes stay attached while the agent is down.

The links of the probes are pinned under the pin root with the maps and the
program they run, so the kernel keeps counting while no agent runs; a
starting agent adopts them. `emitd detach` is the explicit teardown. A spec
edit that changes map sizes migrates the maps instead of zeroing them.
"""
import json
import math
import os
import signal
import subprocess
import time

import pytest

from conftest import (DEMO, DEMO_SPEC, EMITD, ROOT, require_environment,
                      sample, wait_until)
from test_core import demo_summary

# What the kernel's maps count exactly, per demo summary line: the sample
# lane's sums (f64 _sum, normalization magnitudes) restart with each agent.
EXACT = {
    "requests_total": "demo_requests_total",
    "request_latency_us_count": "demo_request_latency_seconds_count",
    "payload_ratio_count": "demo_payload_ratio_count",
    "queue_depth_last": "demo_queue_depth",
    "sensor_value_last": "demo_sensor_value",
    "trigger_normalization_events": "demo_trigger_normalization_events_total",
    "trigger_normalization_zeroed": "demo_trigger_normalization_zeroed_total",
}

SECOND_COUNTER = """  - name: route_hits_total
    type: counter
    help: Requests by route, counted by a second metric in the same map.
    labels: [route]
    budget: 64
    probe:
      target: demo
      uprobe: handle_request
      labels: { route: { arg: 0, as: string } }
"""


_demos = []


def start_demo(*args):
    p = subprocess.Popen([DEMO, *args], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    _demos.append(p)
    return p


@pytest.fixture(autouse=True)
def stop_demos():
    """A failing test leaves no target running into the next one."""
    yield
    while _demos:
        p = _demos.pop()
        if p.poll() is None:
            p.kill()
            p.communicate()


def finish_demo(p, timeout=120):
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, err
    return demo_summary(out)


def lost_events(m, summ):
    """Iterations the agent does not show: demo's count minus the histogram's."""
    n = summ[("iterations", frozenset())]
    return n - m.get(("demo_request_latency_seconds_count", frozenset()), 0)


def wait_drained(agent, n, name="demo_request_latency_seconds_count", timeout=15):
    """The agent's value of @name once it reaches @n (or its last value), then
    two more drains: a drain reads the maps one after the other, so the one
    that first shows @n may have read another map before the last events."""
    def ok():
        v = agent.metrics().get((name, frozenset()))
        return v if v == n else None
    got = wait_until(ok, timeout=timeout)
    if got is None:
        return agent.metrics().get((name, frozenset()))
    drains = agent.metrics()[("emitd_drains_total", frozenset())]
    assert wait_until(lambda: agent.metrics()[("emitd_drains_total", frozenset())] >= drains + 2,
                      timeout=timeout), "the agent stopped draining"
    return got


def assert_exact(m, summ, times=1):
    """Every count the kernel keeps equals what the demo emitted (times @times)."""
    for (name, labels), v in summ.items():
        if name in ("request_latency_us_bucket", "payload_ratio_bucket"):
            # the demo counts microseconds; the spec exports seconds (scale 1e-6)
            us = name.startswith("request_latency_us")
            family = "demo_request_latency_seconds_bucket" if us else "demo_" + name
            le = float(dict(labels)["le"]) / (1e6 if us else 1)
            got = [val for (n, l), val in m.items()
                   if n == family and math.isclose(float(dict(l)["le"]), le, rel_tol=1e-12)]
            assert got == [v * times], f"{name} le={le}: got {got}, want {v * times}"
        elif name == "request_latency_us_sum":
            want = v * times / 1e6
            got = m.get(("demo_request_latency_seconds_sum", labels))
            assert got is not None and math.isclose(got, want, rel_tol=1e-15), \
                f"demo_request_latency_seconds_sum: got {got}, want {want}"
        elif name in EXACT:
            want = v if name.endswith("_last") else v * times
            got = m.get((EXACT[name], labels))
            assert got == want, f"{EXACT[name]}{dict(labels)}: got {got}, want {want}"


def assert_nothing_lost(agent, demo, what):
    """@demo's run ends, @agent drains it all: none of its iterations is
    missing and every count is exact. Prints the loss, for the issue's table."""
    summ = finish_demo(demo)
    n = summ[("iterations", frozenset())]
    wait_drained(agent, n)
    m = agent.metrics()
    lost = lost_events(m, summ)
    print(f"{what}: lost {lost:.0f} of {n:.0f} iterations")
    assert lost == 0
    assert_exact(m, summ)
    return m


def pinned_links(pin_root):
    d = os.path.join(pin_root, "links")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def spec_file(tmp_path, name="spec.yml", add="", replace=()):
    with open(DEMO_SPEC) as f:
        text = f.read()
    for old, new in replace:
        assert old in text, old
        text = text.replace(old, new, 1)
    p = tmp_path / name
    p.write_text(text + add)
    return str(p)


def test_kill9_under_load_loses_nothing(agent_factory):
    """kill -9 mid-run at 20k it/s, start again: the totals are exactly N."""
    a = agent_factory()
    a.wait_ready()
    demo = start_demo("--events", "100000", "--rate", "20000")
    time.sleep(1.5)
    assert demo.poll() is None
    a.proc.kill()
    a.proc.wait(10)
    b = agent_factory(pin_root=a.pin_root)
    b.wait_ready()
    assert_nothing_lost(b, demo, "kill -9 at 20k it/s")


def test_sigterm_and_start_with_the_target_running_loses_nothing(agent_factory):
    """SIGTERM, a second with no agent while the target runs on, start again."""
    a = agent_factory()
    a.wait_ready()
    demo = start_demo("--events", "100000", "--rate", "20000")
    time.sleep(1)
    a.proc.send_signal(signal.SIGTERM)
    assert a.proc.wait(10) == 0, a.log_text()
    links = pinned_links(a.pin_root)
    time.sleep(1)            # the target runs on with no agent
    assert demo.poll() is None
    b = agent_factory(pin_root=a.pin_root)
    b.wait_ready()
    assert_nothing_lost(b, demo, "SIGTERM/start cycle at 20k it/s")
    assert links, "no link pinned after SIGTERM"
    assert "probes stay attached" in a.log_text()
    assert "adopted" in b.log_text()


def test_counting_goes_on_with_no_agent(agent_factory):
    """No agent at all while the target runs: the next one shows every event."""
    a = agent_factory()
    a.wait_ready()
    a.proc.send_signal(signal.SIGTERM)
    assert a.proc.wait(10) == 0
    summ = finish_demo(start_demo("--events", "2000", "--rate", "0"))
    b = agent_factory(pin_root=a.pin_root)
    b.wait_ready()
    assert wait_drained(b, 2000) == 2000
    assert_exact(b.metrics(), summ)


def test_detach_removes_every_link(agent_factory):
    a = agent_factory()
    a.wait_ready()
    finish_demo(start_demo("--events", "100", "--rate", "0"))
    assert wait_drained(a, 100) == 100
    a.proc.send_signal(signal.SIGTERM)
    assert a.proc.wait(10) == 0
    links = pinned_links(a.pin_root)
    assert len(links) == 6, links            # one per probe site of spec/demo.yml
    ids = link_ids(a.pin_root, links)
    assert ids <= bpftool_link_ids()
    p = subprocess.run([EMITD, "detach", "--pin-root", a.pin_root], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "detached 6 probe links" in p.stderr, p.stderr
    assert pinned_links(a.pin_root) == []
    # gone from the kernel, not only unpinned
    assert wait_until(lambda: not ids & bpftool_link_ids(), timeout=5), ids & bpftool_link_ids()
    finish_demo(start_demo("--events", "50", "--rate", "0"))   # nothing counts these
    b = agent_factory(pin_root=a.pin_root)
    b.wait_ready()
    assert wait_drained(b, 100) == 100       # the maps stayed: the old counts
    time.sleep(0.3)
    assert sample(b.metrics(), "demo_request_latency_seconds_count") == 100
    b.proc.send_signal(signal.SIGTERM)
    assert b.proc.wait(10) == 0
    p = subprocess.run([EMITD, "detach", "--pin-root", a.pin_root, "--purge"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert not os.path.exists(a.pin_root)


def link_ids(pin_root, names):
    ids = set()
    for n in names:
        p = subprocess.run(["bpftool", "-j", "link", "show", "pinned",
                            os.path.join(pin_root, "links", n)],
                           capture_output=True, text=True, check=True)
        ids.add(json.loads(p.stdout)["id"])
    return ids


def bpftool_link_ids():
    p = subprocess.run(["bpftool", "-j", "link", "list"], capture_output=True, text=True,
                       check=True)
    return {l["id"] for l in json.loads(p.stdout)}


def test_detach_without_pins_is_a_clear_error(tmp_path):
    require_environment()
    p = subprocess.run([EMITD, "detach", "--pin-root", "/sys/fs/bpf/emitd-test-none-here"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    assert "/sys/fs/bpf/emitd-test-none-here" in p.stderr, p.stderr


def two_counters(tmp_path, budget=64, global_budget=1024, name="spec.yml"):
    return spec_file(tmp_path, name, add=SECOND_COUNTER.replace("budget: 64", f"budget: {budget}"),
                     replace=[("global_budget: 1024", f"global_budget: {global_budget}")])


def routes(m, name):
    return {dict(l)["route"]: v for (n, l), v in m.items() if n == name}


@pytest.mark.parametrize("budget,global_budget", [(32, 1024), (100000, 200000)],
                         ids=["within-size", "beyond-size"])
def test_budget_edit_across_a_restart_keeps_every_count(agent_factory, tmp_path, budget,
                                                         global_budget):
    """Another metric's budget changes (beyond-size: the counters map must grow)."""
    a = agent_factory(spec=two_counters(tmp_path))
    a.wait_ready()
    summ = finish_demo(start_demo("--events", "3000", "--rate", "0"))
    assert wait_drained(a, 3000) == 3000
    before = a.metrics()
    a.proc.send_signal(signal.SIGTERM)
    assert a.proc.wait(10) == 0
    b = agent_factory(spec=two_counters(tmp_path, budget, global_budget, "edited.yml"),
                      pin_root=a.pin_root)
    b.wait_ready()
    assert wait_drained(b, 3000) == 3000
    m = b.metrics()
    assert routes(m, "demo_requests_total") == routes(before, "demo_requests_total")
    assert routes(m, "demo_route_hits_total") == routes(before, "demo_route_hits_total")
    assert sum(routes(m, "demo_route_hits_total").values()) == 3000
    assert_exact(m, summ)
    assert "changed meaning" not in b.log_text()
    grew = budget > 65536
    assert ("migrating what it holds" in b.log_text()) == grew, b.log_text()
    assert max_entries(a.pin_root, "counters") == (131072 if grew else 65536)
    # and they go on counting in the (possibly new) maps
    finish_demo(start_demo("--events", "3000", "--rate", "0"))
    assert wait_drained(b, 6000) == 6000
    assert_exact(b.metrics(), summ, times=2)
    assert sum(routes(b.metrics(), "demo_route_hits_total").values()) == 6000
    # what the retired map held is pinned too: the next agent shows it all
    hits = routes(b.metrics(), "demo_route_hits_total")
    b.proc.send_signal(signal.SIGTERM)
    assert b.proc.wait(10) == 0
    c = agent_factory(spec=two_counters(tmp_path, budget, global_budget, "edited.yml"),
                      pin_root=a.pin_root)
    c.wait_ready()
    assert wait_drained(c, 6000) == 6000
    assert_exact(c.metrics(), summ, times=2)
    assert routes(c.metrics(), "demo_route_hits_total") == hits
    assert "migrating" not in c.log_text()


def max_entries(pin_root, name):
    p = subprocess.run(["bpftool", "-j", "map", "show", "pinned", os.path.join(pin_root, name)],
                       capture_output=True, text=True, check=True)
    return json.loads(p.stdout)["max_entries"]
