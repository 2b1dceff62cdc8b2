"""TLS and basic auth through --web.config.file (issue 11, item 7).

The agent reads an exporter-toolkit web configuration: a certificate and key,
client certificate policy, bcrypt users, response headers. Certificates are
made here with openssl into the test's tmp directory; clients are curl and a
real Prometheus (Debian's `prometheus`) scraping over TLS with basic auth.
"""
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
import warnings

import pytest

from conftest import DEMO_SPEC, EMITD, ROOT, free_port, require_environment, run_demo

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)    # libxcrypt's bcrypt, as the agent's
    import crypt

USER, PASSWORD = "prometheus", "correct horse battery staple"


def sh(*args, **kw):
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    assert p.returncode == 0, f"{' '.join(args)} failed: {p.stderr}"
    return p.stdout


def need(tool):
    path = shutil.which(tool)
    if not path:
        pytest.fail(f"{tool} is not installed (make deps)")
    return path


def make_pki(d):
    """A CA, a server certificate for 127.0.0.1 and localhost, a client
    certificate from the CA, and one from a stranger CA; returns the paths."""
    need("openssl")

    def key(name):
        sh("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
           "-out", f"{d}/{name}.key")

    def ca(name, cn):
        key(name)
        sh("openssl", "req", "-x509", "-new", "-key", f"{d}/{name}.key", "-subj", f"/CN={cn}",
           "-days", "2", "-addext", "basicConstraints=critical,CA:TRUE",
           "-addext", "keyUsage=critical,keyCertSign", "-out", f"{d}/{name}.crt")

    def leaf(name, cn, issuer, ext):
        key(name)
        sh("openssl", "req", "-new", "-key", f"{d}/{name}.key", "-subj", f"/CN={cn}",
           "-out", f"{d}/{name}.csr")
        with open(f"{d}/{name}.ext", "w") as f:
            f.write(ext)
        sh("openssl", "x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/{issuer}.crt",
           "-CAkey", f"{d}/{issuer}.key", "-CAcreateserial", "-days", "2",
           "-extfile", f"{d}/{name}.ext", "-out", f"{d}/{name}.crt")

    ca("ca", "emitd test CA")
    ca("stranger-ca", "someone else")
    leaf("server", "localhost", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
         "extendedKeyUsage=serverAuth\n")
    leaf("client", "scraper", "ca", "extendedKeyUsage=clientAuth\n")
    leaf("stranger", "intruder", "stranger-ca", "extendedKeyUsage=clientAuth\n")
    return {n: f"{d}/{n}" for n in ("ca", "server", "client", "stranger")}


def bcrypt(password):
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 10))


def write_web_config(d, pki, client_auth=None, users=True, name="web.yml"):
    lines = ["tls_server_config:",
             f"  cert_file: {os.path.basename(pki['server'])}.crt",  # relative: the file's dir
             f"  key_file: {pki['server']}.key"]
    if client_auth:
        lines += [f"  client_auth_type: {client_auth}", f"  client_ca_file: {pki['ca']}.crt"]
    lines += ["http_server_config:", "  headers:", "    X-Content-Type-Options: nosniff",
              "    Strict-Transport-Security: max-age=31536000"]
    if users:
        lines += ["basic_auth_users:", f"  {USER}: {bcrypt(PASSWORD)}",
                  f"  other: {bcrypt('another password')}"]
    path = f"{d}/{name}"
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


class TlsAgent:
    """`emitd run` with a web config; waits for its HTTPS port by itself
    (conftest's Agent speaks plain HTTP)."""

    def __init__(self, tmp, web_config, ca):
        self.port = free_port()
        self.ca = ca
        self.pin_root = f"/sys/fs/bpf/emitd-test-tls-{os.getpid()}-{self.port}"
        self.log_path = f"{tmp}/agent-{self.port}.log"
        self.log = open(self.log_path, "w")
        # --listen: the old name of --web.listen-address, still accepted
        self.proc = subprocess.Popen(
            [EMITD, "run", "--spec", DEMO_SPEC, "--listen", f"127.0.0.1:{self.port}",
             "--pin-root", self.pin_root, "--interval-ms", "100",
             "--web.config.file", web_config],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)

    def url(self, path):
        return f"https://127.0.0.1:{self.port}{path}"

    def log_text(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def curl(self, path, *args):
        """(status, headers, body) of one HTTPS request; status 0 on failure."""
        p = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", self.ca, "-D", "-",
                            *args, self.url(path)], capture_output=True)
        if p.returncode:
            return 0, {}, p.stderr
        head, _, body = p.stdout.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (l.partition(":") for l in lines[1:])}
        return int(lines[0].split()[1]), headers, body

    def wait_ready(self, *auth, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"emitd exited with {self.proc.returncode}:\n{self.log_text()}")
            status, _, _ = self.curl("/healthz", *auth)
            if status == 200:
                return
            time.sleep(0.1)
        pytest.fail(f"emitd not ready over TLS after {timeout}s:\n{self.log_text()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.pin_root, ignore_errors=True)


@pytest.fixture
def tls_env(tmp_path):
    require_environment()
    need("curl")
    pki = make_pki(str(tmp_path))
    agents = []

    def start(**kw):
        a = TlsAgent(str(tmp_path), write_web_config(str(tmp_path), pki, **kw), pki["ca"] + ".crt")
        agents.append(a)
        return a

    yield pki, start
    for a in agents:
        a.stop()


AUTH = ("-u", f"{USER}:{PASSWORD}")


def test_https_with_basic_auth(tls_env):
    """curl over TLS with the CA: the right password gets 200 on every path,
    a wrong or missing one 401 with WWW-Authenticate; the configured headers
    come with every answer."""
    _, start = tls_env
    agent = start()
    agent.wait_ready(*AUTH)
    assert "serving https://127.0.0.1:%d/metrics (basic auth)" % agent.port in agent.log_text()
    run_demo("--events", "10", "--rate", "0")
    status, headers, body = agent.curl("/metrics", *AUTH)
    assert status == 200
    assert b"emitd_build_info{" in body
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["strict-transport-security"] == "max-age=31536000"
    for path in ("/metrics", "/healthz", "/snapshot", "/nope"):
        for creds in ((), ("-u", f"{USER}:wrong"), ("-u", f"nobody:{PASSWORD}"),
                      ("-u", f"other:{PASSWORD}")):
            status, headers, body = agent.curl(path, *creds)
            assert status == 401, f"{path} {creds}: {status}"
            assert headers["www-authenticate"].startswith("Basic realm=")
            assert headers["x-content-type-options"] == "nosniff"
        status, _, _ = agent.curl(path, "-u", "other:another password")
        assert status == (404 if path == "/nope" else 200)
    # the agent checks bcrypt once per user and password, then remembers it
    t0 = time.monotonic()
    for _ in range(20):
        assert agent.curl("/healthz", *AUTH)[0] == 200
    per_request = (time.monotonic() - t0) / 20
    print(f"\n20 authenticated requests over TLS: {per_request * 1e3:.1f} ms each (curl included)")


def test_plain_http_to_tls_port(tls_env):
    """A client speaking plain HTTP to the TLS port gets no HTTP answer and
    is closed; the agent goes on serving HTTPS."""
    _, start = tls_env
    agent = start()
    agent.wait_ready(*AUTH)
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", agent.port), timeout=5) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            try:
                while True:
                    d = s.recv(4096)
                    if not d:
                        break
                    got += d
            except ConnectionResetError:
                pass
        assert not got.startswith(b"HTTP/"), got[:80]
        assert b"emitd_" not in got
    p = subprocess.run(["curl", "-sS", "--max-time", "5",
                        f"http://127.0.0.1:{agent.port}/metrics"], capture_output=True)
    assert p.returncode != 0 and not p.stdout
    assert agent.proc.poll() is None
    assert agent.curl("/metrics", *AUTH)[0] == 200


def test_client_certificate_required(tls_env):
    """RequireAndVerifyClientCert: a certificate from client_ca_file gets in,
    none or a stranger's fails the handshake."""
    pki, start = tls_env
    agent = start(client_auth="RequireAndVerifyClientCert", users=False)
    mine = ("--cert", pki["client"] + ".crt", "--key", pki["client"] + ".key")
    theirs = ("--cert", pki["stranger"] + ".crt", "--key", pki["stranger"] + ".key")
    agent.wait_ready(*mine)
    status, _, body = agent.curl("/metrics", *mine)
    assert status == 200 and b"emitd_build_info" in body
    for creds in ((), theirs):
        status, _, err = agent.curl("/metrics", *creds)
        assert status == 0, f"{creds}: got {status}"
    assert agent.curl("/healthz", *mine)[0] == 200


def test_bad_web_config_refused(tmp_path):
    """A bad web configuration stops the agent before it attaches anything,
    with FILE:LINE:COL errors."""
    require_environment()
    bad = tmp_path / "web.yml"
    bad.write_text("tls_server_config:\n  cert_file: missing.crt\n  key_fil: x.key\n"
                   "basic_auth_users:\n  prometheus: not-a-hash\n")
    pin_root = f"/sys/fs/bpf/emitd-test-tls-bad-{os.getpid()}"
    p = subprocess.run([EMITD, "run", "--spec", DEMO_SPEC, "--web.listen-address",
                        f"127.0.0.1:{free_port()}", "--pin-root", pin_root,
                        "--web.config.file", str(bad)], cwd=ROOT, capture_output=True,
                       text=True, timeout=30)
    shutil.rmtree(pin_root, ignore_errors=True)
    print("\n" + p.stderr)
    assert p.returncode == 1
    assert f"{bad}:2:3: error: tls_server_config.key_file: missing required field" in p.stderr
    assert (f"{bad}:3:3: error: tls_server_config: unknown key \"key_fil\" "
            "(did you mean \"key_file\"?)") in p.stderr
    assert f"{bad}:5:15: error: basic_auth_users.prometheus: not a bcrypt hash" in p.stderr
    assert "probes attached" not in p.stderr + p.stdout


def prometheus_query(port, q):
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)["data"]["result"]


def test_prometheus_scrapes_over_tls_with_basic_auth(tls_env, tmp_path):
    """A real Prometheus, scheme https with the CA and basic_auth, scrapes the
    agent: up == 1 and the demo's counter arrive."""
    pki, start = tls_env
    prom = need("prometheus")
    agent = start()
    agent.wait_ready(*AUTH)
    run_demo("--events", "25", "--rate", "0")
    pw_file = tmp_path / "password"
    pw_file.write_text(PASSWORD)
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: emitd
    scheme: https
    tls_config:
      ca_file: {pki['ca']}.crt
      server_name: localhost
    basic_auth:
      username: {USER}
      password_file: {pw_file}
    static_configs:
      - targets: ['127.0.0.1:{agent.port}']
""")
    port = free_port()
    log = open(tmp_path / "prometheus.log", "w")
    p = subprocess.Popen([prom, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}",
                          f"--storage.tsdb.path={tmp_path / 'tsdb'}"],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline, up, demo = time.monotonic() + 40, None, None
        while time.monotonic() < deadline and p.poll() is None:
            try:
                up = prometheus_query(port, 'up{job="emitd"}')
                demo = prometheus_query(port, 'sum(demo_requests_total{job="emitd"})')
                if up and up[0]["value"][1] == "1" and demo:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        build = prometheus_query(port, 'emitd_build_info{job="emitd"}')
    finally:
        p.terminate()
        p.wait(20)
        log.close()
    print(f"\nprometheus: up={up}, sum(demo_requests_total)={demo}, build_info={build}")
    assert up and up[0]["value"][1] == "1", (tmp_path / "prometheus.log").read_text()[-3000:]
    assert demo and float(demo[0]["value"][1]) == 25
    assert build and build[0]["metric"]["version"]
