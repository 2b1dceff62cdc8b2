"""Live reload: SIGHUP loads the spec again.

Unchanged metrics keep counting with no gap (their links and series are not
touched), added probes attach, removed probes detach and their series go, a
bad spec is refused with FILE:LINE:COL and the old spec keeps running.
"""
import signal
import time

from conftest import sample, wait_until
from test_restart import (SECOND_COUNTER, assert_exact, assert_nothing_lost, finish_demo, link_ids,
                          max_entries, pinned_links, routes, spec_file, start_demo, stop_demos,
                          wait_drained)

assert stop_demos   # autouse here too: no target outlives its test

PAYLOAD = """  - name: payload_ratio
    type: histogram
    help: Compressed over raw payload size.
    unit: ratio
    family: http
    probe: { target: demo, usdt: 'demo:payload', value: { arg: 0, deref: f64 } }
    buckets: [0.1, 0.25, 0.5, 0.75, 0.9, 1]
"""

REQUESTS = """  - name: requests_total
    type: counter
    help: Requests handled, by route.
    family: http
    labels: [route]
    budget: 64
    probe:
      target: demo
      uprobe: handle_request
      labels: { route: { arg: 0, as: string } }
    panels:
      - { title: Requests per second by route, promql: 'sum by (route) (rate(demo_requests_total[5m]))' }
    alerts:
      - { alert: DemoNoRequests, expr: 'sum(rate(demo_requests_total[10m])) == 0', for: 10m, severity: warning, summary: No requests for 10 minutes }
"""


def reload(agent, ok=True, timeout=15):
    """SIGHUP, then wait for the agent to say how the reload went."""
    done = "spec reloaded" if ok else "spec reload failed"
    n = agent.log_text().count(done)
    agent.proc.send_signal(signal.SIGHUP)
    got = wait_until(lambda: agent.log_text().count(done) > n or agent.proc.poll() is not None,
                     timeout=timeout)
    assert agent.proc.poll() is None, f"agent exited on SIGHUP:\n{agent.log_text()}"
    assert got, f"no '{done}' after SIGHUP:\n{agent.log_text()}"
    # the next rendering is the reloaded one
    want = 1 if ok else 0
    assert wait_until(lambda: agent.metrics().get(
        ("emitd_config_last_reload_successful", frozenset())) == want, timeout=5), \
        agent.log_text()


def attached(m):
    return {dict(l)["probe"]: v for (n, l), v in m.items() if n == "emitd_probe_attached"}


def test_sighup_with_an_unchanged_spec_loses_nothing(agent_factory, tmp_path):
    spec = spec_file(tmp_path)
    a = agent_factory(spec=spec)
    a.wait_ready()
    links = pinned_links(a.pin_root)
    ids = link_ids(a.pin_root, links)
    m = a.metrics()
    assert sample(m, "emitd_config_last_reload_successful") == 1
    started = sample(m, "emitd_config_last_reload_success_timestamp_seconds")
    assert abs(started - time.time()) < 60
    demo = start_demo("--events", "60000", "--rate", "20000")
    for _ in range(4):
        time.sleep(0.5)
        reload(a)
    m = assert_nothing_lost(a, demo, "4 reloads at 20k it/s")
    assert sample(m, "emitd_config_last_reload_success_timestamp_seconds") > started
    # the links were kept, not made again
    assert pinned_links(a.pin_root) == links
    assert link_ids(a.pin_root, links) == ids
    assert set(attached(m).values()) == {1}
    assert len(attached(m)) == 6


def agent_without_payload(agent_factory, tmp_path):
    """An agent on the demo spec less its payload metric: the agent, the
    spec's path and the whole spec's text, to write back for a reload."""
    with open(spec_file(tmp_path, "full.yml")) as f:
        text = f.read()
    spec = tmp_path / "spec.yml"
    spec.write_text(text.replace(PAYLOAD, "", 1))
    a = agent_factory(spec=str(spec))
    a.wait_ready()
    return a, spec, text


def test_sighup_attaches_an_added_metric(agent_factory, tmp_path):
    a, spec, text = agent_without_payload(agent_factory, tmp_path)
    assert len(pinned_links(a.pin_root)) == 5
    assert "demo:payload" not in attached(a.metrics())
    finish_demo(start_demo("--events", "100", "--rate", "0"))
    assert wait_drained(a, 100) == 100
    spec.write_text(text)
    reload(a)
    assert len(pinned_links(a.pin_root)) == 6
    summ = finish_demo(start_demo("--events", "200", "--rate", "0"))
    assert wait_drained(a, 300) == 300
    m = a.metrics()
    assert sample(m, "demo_payload_ratio_count") == 200
    for le, v in ((l, v) for (n, l), v in summ.items() if n == "payload_ratio_bucket"):
        got = [val for (n, l), val in m.items() if n == "demo_payload_ratio_bucket"
               and float(dict(l)["le"]) == float(dict(le)["le"])]
        assert got == [v]
    assert attached(m)["demo:payload"] == 1


def test_sighup_detaches_a_removed_metric(agent_factory, tmp_path):
    spec = tmp_path / "spec.yml"
    a = agent_factory(spec=spec_file(tmp_path, "spec.yml"))
    a.wait_ready()
    finish_demo(start_demo("--events", "100", "--rate", "0"))
    assert wait_drained(a, 100) == 100
    assert routes(a.metrics(), "demo_requests_total")
    before = pinned_links(a.pin_root)
    text = spec.read_text()
    assert REQUESTS in text
    spec.write_text(text.replace(REQUESTS, "", 1).replace(
        "expr: 'sum(rate(demo_requests_total[10m])) == 0'", "expr: 'vector(1)'"))
    reload(a)
    after = pinned_links(a.pin_root)
    assert len(after) == len(before) - 1 and set(after) < set(before)
    m = a.metrics()
    assert not routes(m, "demo_requests_total"), "the removed metric's series are still shown"
    assert "handle_request" not in attached(m)
    assert sample(m, "emitd_orphan_series") == 0
    assert sample(m, "demo_request_latency_seconds_count") == 100   # the others keep theirs
    finish_demo(start_demo("--events", "100", "--rate", "0"))
    assert wait_drained(a, 200) == 200
    assert not routes(a.metrics(), "demo_requests_total")


def test_sighup_with_a_broken_spec_keeps_the_running_one(agent_factory, tmp_path):
    spec = tmp_path / "spec.yml"
    a = agent_factory(spec=spec_file(tmp_path, "spec.yml"))
    a.wait_ready()
    good = spec.read_text()
    lines = good.splitlines(keepends=True)
    i = next(k for k, l in enumerate(lines) if l.startswith("    type: histogram"))
    lines[i] = "    type: histogramm\n"
    spec.write_text("".join(lines))
    reload(a, ok=False)
    log = a.log_text()
    assert f"{spec}:{i + 1}:11:" in log, log
    assert "keeping the running spec" in log
    summ = finish_demo(start_demo("--events", "500", "--rate", "0"))
    assert wait_drained(a, 500) == 500
    assert_exact(a.metrics(), summ)
    assert sample(a.metrics(), "emitd_config_last_reload_successful") == 0
    spec.write_text(good)
    reload(a)


def test_sighup_budget_edits_under_load_keep_every_count(agent_factory, tmp_path):
    """Budget 64 -> 32 (same maps), then 100000 (the counters map must grow)."""
    spec = tmp_path / "spec.yml"
    spec_file(tmp_path, "spec.yml", add=SECOND_COUNTER)
    base = spec.read_text()
    a = agent_factory(spec=str(spec))
    a.wait_ready()
    demo = start_demo("--events", "60000", "--rate", "20000")
    time.sleep(0.8)
    mine = "same map.\n    labels: [route]\n    budget: "     # route_hits_total's budget
    assert base.count(mine + "64") == 1
    spec.write_text(base.replace(mine + "64", mine + "32"))
    assert spec.read_text() != base
    reload(a)
    assert max_entries(a.pin_root, "counters") == 65536
    links = link_ids(a.pin_root, pinned_links(a.pin_root))
    time.sleep(0.8)
    spec.write_text(spec.read_text().replace(mine + "32", mine + "100000")
                    .replace("global_budget: 1024", "global_budget: 200000"))
    reload(a)
    assert "migrating what it holds" in a.log_text()
    assert max_entries(a.pin_root, "counters") == 131072
    assert link_ids(a.pin_root, pinned_links(a.pin_root)) == links   # the same links
    m = assert_nothing_lost(a, demo, "budget reloads at 20k it/s")
    assert routes(m, "demo_route_hits_total") == routes(m, "demo_requests_total")
    assert sum(routes(m, "demo_route_hits_total").values()) == 60000
    assert "changed meaning" not in a.log_text()
    assert sample(m, "emitd_cardinality_budget", metric="demo_route_hits_total") == 100000
    assert sample(m, "emitd_cardinality_budget", metric="demo_requests_total") == 64


def test_sighup_resets_only_a_metric_that_changed_meaning(agent_factory, tmp_path):
    spec = tmp_path / "spec.yml"
    a = agent_factory(spec=spec_file(tmp_path, "spec.yml"))
    a.wait_ready()
    finish_demo(start_demo("--events", "100", "--rate", "0"))
    assert wait_drained(a, 100) == 100
    assert wait_drained(a, 100, "demo_payload_ratio_count") == 100
    spec.write_text(spec.read_text().replace("buckets: [0.1, 0.25, 0.5, 0.75, 0.9, 1]",
                                             "buckets: [0.2, 0.4, 0.6, 0.8, 1]"))
    reload(a)
    m = a.metrics()
    assert sample(m, "demo_payload_ratio_count") == 0
    assert sample(m, "demo_request_latency_seconds_count") == 100
    assert "metric demo_payload_ratio changed meaning" in a.log_text()
    finish_demo(start_demo("--events", "100", "--rate", "0"))
    assert wait_drained(a, 200) == 200
    assert sample(a.metrics(), "demo_payload_ratio_count") == 100


def test_sighup_with_a_site_that_cannot_be_found_changes_nothing(agent_factory, tmp_path):
    """The spec loads but names a symbol the binary lacks: refused before any change."""
    spec = tmp_path / "spec.yml"
    a = agent_factory(spec=spec_file(tmp_path, "spec.yml"))
    a.wait_ready()
    links = pinned_links(a.pin_root)
    ids = link_ids(a.pin_root, links)
    good = spec.read_text()
    spec.write_text(good.replace("uprobe: handle_request", "uprobe: no_such_function", 1)
                    .replace("buckets: [0.1, 0.25, 0.5, 0.75, 0.9, 1]", "buckets: [0.5, 1]"))
    line = good[:good.index("uprobe: handle_request")].count("\n") + 1
    reload(a, ok=False)
    assert f"{spec}:{line}:" in a.log_text() and "no_such_function not found" in a.log_text()
    assert "changed meaning" not in a.log_text()        # nothing of the new spec was applied
    assert link_ids(a.pin_root, pinned_links(a.pin_root)) == ids
    summ = finish_demo(start_demo("--events", "300", "--rate", "0"))
    assert wait_drained(a, 300) == 300
    assert_exact(a.metrics(), summ)


def post_reload(agent):
    import urllib.error
    import urllib.request
    req = urllib.request.Request(agent.url("/-/reload"), data=b"", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_post_reload_runs_the_same_reload(agent_factory, tmp_path):
    """POST /-/reload (Prometheus' convention): 200 once applied, 500 with the reason."""
    a, spec, text = agent_without_payload(agent_factory, tmp_path)
    spec.write_text(text)
    status, body = post_reload(a)
    assert status == 200, body
    assert attached(a.metrics())["demo:payload"] == 1     # applied before the answer
    assert len(pinned_links(a.pin_root)) == 6
    spec.write_text(text.replace("    type: histogram\n", "    type: histogramm\n", 1))
    status, body = post_reload(a)
    assert status == 500 and "does not load" in body, (status, body)
    assert sample(a.metrics(), "emitd_config_last_reload_successful") == 0
    summ = finish_demo(start_demo("--events", "200", "--rate", "0"))
    assert wait_drained(a, 200) == 200
    assert_exact(a.metrics(), summ)
