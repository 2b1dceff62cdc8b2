"""Warm series: the spec's expected label values, and every series without
labels, are on /metrics as 0 before the first event, so panels and rate()
have no gap. When the kernel creates such a series it is the same series
(one line, the exact count), and a warm series the kernel has not created
takes nothing of the kernel's budget.
"""
import re

from conftest import DEMO_SPEC, run_demo, sample, wait_until

N = 3000
ROUTES = ("/api/users", "/api/orders", "/healthz")   # the demo's, request i uses i % 3
NEVER = ("/api/never-1", "/api/never-2")             # warm, never requested


def warm_spec(tmp_path):
    """spec/demo.yml with warm routes: one the demo requests, two it never
    does, and a budget of 4 that has room for the demo's three routes only if
    the two unused warm routes take no place in the kernel."""
    with open(DEMO_SPEC) as f:
        text = f.read()
    old = ("    budget: 64\n"
           "    probe:\n"
           "      target: demo\n"
           "      uprobe: handle_request\n"
           "      labels: { route: { arg: 0, as: string } }\n")
    assert old in text
    values = ", ".join(("/api/users",) + NEVER)
    new = old.replace("budget: 64", "budget: 4").replace(
        "as: string }", f"as: string, values: [{values}] }}")
    path = tmp_path / "warm.yml"
    path.write_text(text.replace(old, new))
    return str(path)


def route_lines(text, route):
    return [l for l in text.splitlines()
            if re.match(r'demo_requests_total\{route="%s"\} ' % re.escape(route), l)]


def test_warm_series_are_zero_then_exact(agent_factory, tmp_path):
    a = agent_factory(warm_spec(tmp_path))
    a.wait_ready()
    # before any event: the warm routes and every series without labels, at 0
    m = a.metrics()
    for route in ("/api/users",) + NEVER:
        assert sample(m, "demo_requests_total", route=route) == 0
    assert sample(m, "demo_queue_depth") == 0
    assert sample(m, "demo_request_latency_seconds_count") == 0
    assert sample(m, "demo_request_latency_seconds_bucket", le="+Inf") == 0
    assert sample(m, "demo_payload_ratio_count") == 0
    assert ("demo_requests_total", frozenset({("route", "/api/orders")})) not in m

    run_demo("--events", str(N), "--rate", "0")

    def done():
        m = a.metrics()
        return m if m.get(("demo_request_latency_seconds_count", frozenset())) == N else None
    m = wait_until(done, timeout=10)
    assert m, "the demo's events were never drained"
    # the kernel's series merged with the warm one: one line, the exact count
    _, _, body = a.get("/metrics")
    text = body.decode()
    for route in ROUTES:
        assert len(route_lines(text, route)) == 1, route
        assert sample(m, "demo_requests_total", route=route) == N // 3
    for route in NEVER:
        assert sample(m, "demo_requests_total", route=route) == 0
    # budget 4: the two unused warm routes took no place, nothing folded
    assert 'route="__other__"' not in text
    assert sample(m, "emitd_cardinality_folded_series", metric="demo_requests_total") == 0
    assert sample(m, "emitd_cardinality_series", metric="demo_requests_total") == 5
