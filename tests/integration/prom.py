"""A real Prometheus (Debian's `prometheus`) for integration tests.

Started on 127.0.0.1 with its own port, config and TSDB directory, and
stopped by the test that started it (use it as a context manager or call
stop()). Queries go through its HTTP API.
"""
import json
import os
import signal
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

PROMETHEUS = "/usr/bin/prometheus"


class Prometheus:
    def __init__(self, tmp_path, port, config="global: {scrape_interval: 1m}\n",
                 remote_write_receiver=False, data_dir=None):
        self.port = port
        self.dir = os.path.join(str(tmp_path), f"prometheus-{port}")
        os.makedirs(self.dir, exist_ok=True)
        self.config_path = os.path.join(self.dir, "prometheus.yml")
        with open(self.config_path, "w") as f:
            f.write(config)
        self.data_dir = data_dir or os.path.join(self.dir, "data")
        self.args = [PROMETHEUS, f"--config.file={self.config_path}",
                     f"--storage.tsdb.path={self.data_dir}",
                     f"--web.listen-address=127.0.0.1:{port}",
                     "--web.enable-lifecycle"]
        if remote_write_receiver:
            self.args.append("--web.enable-remote-write-receiver")
        self.log_path = os.path.join(self.dir, "prometheus.log")
        self.proc = None

    def start(self, timeout=30):
        if not os.access(PROMETHEUS, os.X_OK):
            pytest.fail(f"{PROMETHEUS} is missing (make deps installs Debian's prometheus)")
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"prometheus exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                with urllib.request.urlopen(self.url("/-/ready"), timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        pytest.fail(f"prometheus not ready after {timeout}s:\n{self.log_text()}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()

    def api(self, path, **params):
        q = urllib.parse.urlencode(params)
        with urllib.request.urlopen(self.url(f"/api/v1/{path}?{q}"), timeout=10) as r:
            doc = json.load(r)
        assert doc["status"] == "success", doc
        return doc["data"]

    def query(self, expr):
        """Instant query: {frozenset(labels.items()): float}."""
        data = self.api("query", query=expr)
        return {frozenset(s["metric"].items()): float(s["value"][1]) for s in data["result"]}
