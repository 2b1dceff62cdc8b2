"""What operators expect of an exporter (issue 11, item 9): the Prometheus
flag names (--web.listen-address, --listen kept as its alias,
--web.telemetry-path) and emitd_build_info, emitd_start_time_seconds."""
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import (DEMO_SPEC, EMITD, ROOT, free_port, parse_exposition,
                      require_environment, sample)


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture
def agent_on_probe(tmp_path):
    """emitd run with --web.listen-address and --web.telemetry-path /probe."""
    require_environment()
    port = free_port()
    pin_root = f"/sys/fs/bpf/emitd-test-op-{os.getpid()}-{port}"
    log = open(tmp_path / "agent.log", "w")
    t0 = time.time()
    p = subprocess.Popen([EMITD, "run", "--spec", DEMO_SPEC, "--web.listen-address",
                          f"127.0.0.1:{port}", "--web.telemetry-path", "/probe",
                          "--pin-root", pin_root, "--interval-ms", "100"],
                         cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and p.poll() is None:
        try:
            if get(base + "/healthz")[0] == 200:
                break
        except OSError:
            pass
        time.sleep(0.05)
    else:
        log.close()
        pytest.fail("emitd not ready:\n" + (tmp_path / "agent.log").read_text())
    yield base, t0, time.time(), tmp_path / "agent.log"
    p.terminate()
    p.wait(10)
    log.close()
    shutil.rmtree(pin_root, ignore_errors=True)


def test_telemetry_path_and_listen_address(agent_on_probe):
    base, _, _, log = agent_on_probe
    status, body = get(base + "/probe")
    assert status == 200 and "# TYPE emitd_build_info gauge" in body
    assert get(base + "/metrics")[0] == 404
    assert f"serving {base}/probe" in log.read_text()


def test_build_info_and_start_time(agent_on_probe):
    base, t_before, t_ready, _ = agent_on_probe
    m = parse_exposition(get(base + "/probe")[1])
    with open(os.path.join(ROOT, "build", "revision")) as f:
        revision = f.read().strip()      # what the Makefile compiled in
    version = subprocess.run([EMITD, "version"], capture_output=True, text=True).stdout
    libbpf = re.search(r"\(libbpf (\d+\.\d+)\)", version).group(1)
    emitd_version = version.split()[1]
    builds = [(dict(l), v) for (n, l), v in m.items() if n == "emitd_build_info"]
    print(f"\nemitd_build_info: {builds}")
    assert builds == [({"version": emitd_version, "revision": revision,
                        "libbpf_version": libbpf}, 1.0)]
    assert revision and revision != "unknown"     # this is a git checkout
    start = sample(m, "emitd_start_time_seconds")
    assert t_before - 1 <= start <= t_ready + 1
    assert sample(m, "emitd_http_deadline_drops_total") == 0
    assert sample(m, "emitd_http_idle_closed_total", reason="watermark") == 0
