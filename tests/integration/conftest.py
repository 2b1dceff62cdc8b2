"""Shared fixtures for emitd's root integration tests.

These tests load BPF programs, attach to a real demo-target process and
assert exact counts. They never skip: CI runs as root on a kernel with BTF and
uprobes, so a test that cannot run there fails with the reason.
"""
import gzip
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EMITD = os.path.join(ROOT, "build", "emitd")
DEMO = os.path.join(ROOT, "build", "demo-target")
DEMO_SPEC = os.path.join(ROOT, "spec", "demo.yml")


def require_environment():
    """Fail loudly, never skip, when the machine cannot run these tests."""
    problems = []
    if os.geteuid() != 0:
        problems.append("not root (integration tests load BPF programs)")
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        problems.append("no kernel BTF at /sys/kernel/btf/vmlinux")
    for f in (EMITD, DEMO):
        if not os.access(f, os.X_OK):
            problems.append(f"{f} is not built (run make)")
    if problems:
        pytest.fail("cannot run integration tests: " + "; ".join(problems))


def end_process(proc, ask, timeout=10):
    """Ask a running @proc to end (@ask(proc): a signal, its stdin closed),
    kill it after @timeout seconds; its return code."""
    if proc.poll() is None:
        ask(proc)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Agent:
    """A running `emitd run`, with its log captured to a file."""

    def __init__(self, spec, tmp_path, extra=(), interval_ms=100, pin_root=None):
        self.port = free_port()
        self.listen = f"127.0.0.1:{self.port}"
        self.pin_root = pin_root or f"/sys/fs/bpf/emitd-test-{os.getpid()}-{self.port}"
        self.log_path = os.path.join(tmp_path, f"agent-{self.port}.log")
        self.args = [EMITD, "run", "--spec", spec, "--listen", self.listen,
                     "--pin-root", self.pin_root, *extra]
        if interval_ms:
            self.args += ["--interval-ms", str(interval_ms)]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.args, cwd=ROOT, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def url(self, path):
        return f"http://{self.listen}{path}"

    def log_text(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"emitd exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                with urllib.request.urlopen(self.url("/healthz"), timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                pass
            time.sleep(0.05)
        pytest.fail(f"emitd not ready after {timeout}s:\n{self.log_text()}")

    def get(self, path, headers=None):
        req = urllib.request.Request(self.url(path), headers=headers or {})
        with urllib.request.urlopen(req, timeout=5) as r:
            body = r.read()
            return r.status, dict(r.headers), body

    def metrics(self):
        _, _, body = self.get("/metrics")
        return parse_exposition(body.decode())

    def stop(self, sig=signal.SIGTERM, timeout=10):
        end_process(self.proc, lambda p: p.send_signal(sig), timeout)
        self.log.close()
        shutil.rmtree(self.pin_root, ignore_errors=True)
        return self.proc.returncode


@pytest.fixture
def agent_factory(tmp_path):
    require_environment()
    agents = []

    def make(spec=DEMO_SPEC, **kw):
        a = Agent(spec, str(tmp_path), **kw)
        agents.append(a)
        return a

    yield make
    for a in agents:
        a.stop()


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def unescape(v):
    return re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)


def parse_exposition(text):
    """Map (name, frozenset(labels)) -> float for every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"unparseable exposition line: {line!r}"
        labels = frozenset((k, unescape(v)) for k, v in _LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def sample(metrics, name, **labels):
    key = (name, frozenset(labels.items()))
    assert key in metrics, f"{name}{labels} missing from /metrics"
    return metrics[key]


def run_demo(*args, timeout=120):
    """Run the demo target to completion; return its summary as a dict."""
    p = subprocess.run([DEMO, *args], cwd=ROOT, capture_output=True, text=True,
                       timeout=timeout)
    assert p.returncode == 0, f"demo-target failed: {p.stderr}"
    return p.stdout


def wait_until(fn, timeout=10, interval=0.05):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    return last


def gunzip(body):
    return gzip.decompress(body)
