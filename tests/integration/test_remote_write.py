"""Remote write end to end, into a real Prometheus (--web.enable-remote-write-receiver).

Two agents with their own pin roots and instance labels push what they drain
from the same demo target; Prometheus' per-instance sums must equal the
emitted counts exactly, also across a 10 s receiver outage; a receiver
answering 400 is counted as dropped, never retried.
"""
import http.server
import threading
import time

from conftest import free_port, run_demo, sample, wait_until
from prom import Prometheus

EVENTS = 3000


def demo_routes(summary):
    """The demo's own per-route totals, from its exit summary."""
    out = {}
    for line in summary.splitlines():
        if line.startswith("requests_total{route=\""):
            route = line.split('"')[1]
            out[route] = float(line.rsplit(" ", 1)[1])
    assert out, summary
    return out


def rw_args(prom_port, instance, interval="1s"):
    return ["--remote-write.url", f"http://127.0.0.1:{prom_port}/api/v1/write",
            "--remote-write.interval", interval, "--remote-write.label", f"instance={instance}"]


def pushed(prom, expr):
    return prom.query(expr)


def rw_stats(agent):
    m = agent.metrics()
    url = next(dict(k[1])["url"] for k in m if k[0] == "emitd_remote_write_samples_total")
    return {r: sample(m, "emitd_remote_write_samples_total", url=url, result=r)
            for r in ("sent", "retried", "dropped")} | {
        "queued": sample(m, "emitd_remote_write_queue_samples", url=url)}


def test_two_agents_exact_per_instance(agent_factory, tmp_path):
    with Prometheus(tmp_path, free_port(), remote_write_receiver=True) as prom:
        agents = [agent_factory(extra=rw_args(prom.port, name)) for name in ("a", "b")]
        for a in agents:
            a.wait_ready()
        routes = demo_routes(run_demo("--events", str(EVENTS), "--rate", "3000"))
        want = {(inst, r): v for inst in ("a", "b") for r, v in routes.items()}

        def landed():
            got = pushed(prom, "sum by (instance, route) (demo_requests_total)")
            got = {(dict(k)["instance"], dict(k)["route"]): v for k, v in got.items()}
            return got if got == want else None

        got = wait_until(landed, timeout=30, interval=0.5)
        assert got == want, f"Prometheus has {got}, the demo emitted {want}"
        total = pushed(prom, "sum by (instance) (demo_requests_total)")
        assert {dict(k)["instance"]: v for k, v in total.items()} == {"a": EVENTS, "b": EVENTS}
        for a in agents:
            st = rw_stats(a)
            assert st["sent"] > 0 and st["dropped"] == 0, st


def test_receiver_outage_loses_no_count(agent_factory, tmp_path):
    import subprocess
    from conftest import DEMO, ROOT

    port = free_port()
    prom = Prometheus(tmp_path, port, remote_write_receiver=True).start()
    try:
        agent = agent_factory(extra=rw_args(port, "n1"))
        agent.wait_ready()
        events = 30000
        demo = subprocess.Popen([DEMO, "--events", str(events), "--rate", "2000"], cwd=ROOT,
                                stdout=subprocess.PIPE, text=True)
        time.sleep(3)
        prom.stop()		# the receiver is down for 10 s while the target runs
        time.sleep(10)
        down = rw_stats(agent)
        prom.start()
        out, _ = demo.communicate(timeout=60)
        assert demo.returncode == 0
        routes = demo_routes(out)

        def landed():
            got = pushed(prom, "sum by (route) (demo_requests_total)")
            got = {dict(k)["route"]: v for k, v in got.items()}
            return got if got == routes else None

        got = wait_until(landed, timeout=40, interval=0.5)
        assert got == routes, f"Prometheus has {got}, the demo emitted {routes}"
        st = rw_stats(agent)
        print(f"\nremote write across a 10 s outage: {st} (during the outage: {down})")
        assert down["retried"] > 0, down
        assert st["dropped"] == 0, st
        assert st["sent"] > 0, st
    finally:
        prom.stop()


class _Refuse400(http.server.BaseHTTPRequestHandler):
    requests = 0

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        self.rfile.read(n)
        type(self).requests += 1
        self.send_response(400)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"no\n")

    def log_message(self, *args):
        pass


def test_400_is_dropped_not_retried(agent_factory):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Refuse400)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        agent = agent_factory(extra=rw_args(srv.server_address[1], "x", interval="500ms"))
        agent.wait_ready()
        st = wait_until(lambda: (s := rw_stats(agent))["dropped"] > 0 and
                        _Refuse400.requests >= 3 and s, timeout=15)
        assert st, "no request reached the refusing receiver"
        st = rw_stats(agent)
        assert st["retried"] == 0 and st["sent"] == 0, st
        assert st["dropped"] > 0, st
        assert "HTTP 400" in agent.log_text()
    finally:
        srv.shutdown()
        srv.server_close()
