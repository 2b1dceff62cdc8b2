"""make install, emitd(8) and make deb (issue 11, item 8).

The man page documents every option `emitd run --help` prints and every
command of `emitd help`; `make install` honours PREFIX and DESTDIR and keeps
an operator's edited spec; the example spec lints clean; `make deb` builds a
package with its conffile and maintainer scripts (`make deb-check`, in CI,
installs and purges it).
"""
import os
import re
import shutil
import subprocess

from conftest import EMITD, ROOT, require_environment, wait_until

MAN = os.path.join(ROOT, "docs", "emitd.8")


def man_text():
    with open(MAN) as f:
        return f.read().replace("\\-", "-")


def test_man_page_lists_every_run_option():
    require_environment()
    help_text = subprocess.run([EMITD, "run", "--help"], capture_output=True, text=True,
                               check=True).stdout
    flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9.-]*[a-z0-9])(?![\w.*-])", help_text))
    shorts = set(re.findall(r"^\s+(-[a-zA-Z]),", help_text, re.M))
    envs = set(re.findall(r"environment: (EMITD_[A-Z0-9_]+)", help_text))
    assert len(flags) > 30 and shorts and envs, help_text
    man = man_text()
    missing = sorted(f for f in flags | shorts | envs
                     if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", man))
    assert not missing, f"docs/emitd.8 lacks {missing}"


def test_man_page_lists_every_command():
    require_environment()
    help_text = subprocess.run([EMITD, "help"], capture_output=True, text=True,
                               check=True).stdout
    commands = re.findall(r"^  ([a-z]+)", help_text, re.M)
    assert "run" in commands and "version" in commands, help_text
    man = man_text()
    section = man.split(".SH COMMANDS", 1)[1].split(".SH ", 1)[0]
    for c in commands:
        assert re.search(rf"^\.(TP\n\.B|BI|B)\s+\"?{c}\b", section, re.M), f"command {c}"


def test_man_page_renders_without_warnings():
    p = subprocess.run(["groff", "-man", "-ww", "-z", MAN], capture_output=True, text=True)
    assert p.returncode == 0 and not p.stderr, p.stderr
    p = subprocess.run(["man", "-l", MAN], capture_output=True, text=True,
                       env={**os.environ, "MANWIDTH": "80", "MANPAGER": "cat", "PAGER": "cat"})
    assert p.returncode == 0 and "RUN OPTIONS" in p.stdout, p.stderr


def make(*args):
    p = subprocess.run(["make", "-s", *args], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


def test_install_with_prefix_and_destdir(tmp_path):
    require_environment()
    dest = str(tmp_path / "root")
    make("install", f"DESTDIR={dest}", "PREFIX=/usr/local")
    for path, mode in (("usr/local/sbin/emitd", 0o755),
                       ("usr/local/share/man/man8/emitd.8", 0o644),
                       ("lib/systemd/system/emitd.service", 0o644),
                       ("etc/emitd/emitd.yml", 0o644)):
        st = os.stat(os.path.join(dest, path))
        assert st.st_mode & 0o777 == mode, f"{path}: {oct(st.st_mode)}"
    with open(os.path.join(dest, "lib/systemd/system/emitd.service")) as f:
        unit = f.read()
    assert "ExecStart=/usr/local/sbin/emitd run --spec /etc/emitd/emitd.yml\n" in unit
    spec = os.path.join(dest, "etc/emitd/emitd.yml")
    p = subprocess.run([os.path.join(dest, "usr/local/sbin/emitd"), "lint", spec],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    # an operator's spec survives a second install
    with open(spec, "a") as f:
        f.write("# edited\n")
    make("install", f"DESTDIR={dest}", "PREFIX=/usr/local")
    with open(spec) as f:
        assert f.read().endswith("# edited\n")


def test_deb_package(tmp_path):
    require_environment()
    make("deb")
    out = subprocess.run([os.path.join(ROOT, "build", "emitd"), "version"], capture_output=True,
                         text=True, check=True).stdout
    version = re.match(r"emitd (\S+) ", out).group(1)
    deb = os.path.join(ROOT, "build", f"emitd_{version}_amd64.deb")
    assert os.path.exists(deb)

    def field(name):
        return subprocess.run(["dpkg-deb", "-f", deb, name], capture_output=True, text=True,
                              check=True).stdout.strip()
    assert field("Package") == "emitd" and field("Version") == version
    assert field("Architecture") == "amd64"
    for dep in ("libbpf1", "libmicrohttpd12", "libseccomp2", "libcap2", "adduser"):
        assert dep in field("Depends"), field("Depends")
    files = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True,
                           check=True).stdout
    for path in ("./usr/sbin/emitd", "./usr/share/man/man8/emitd.8.gz",
                 "./lib/systemd/system/emitd.service", "./etc/emitd/emitd.yml"):
        assert re.search(rf" {re.escape(path)}$", files, re.M), f"{path} missing:\n{files}"
    ctl = tmp_path / "control"
    subprocess.run(["dpkg-deb", "-e", deb, str(ctl)], check=True)
    assert (ctl / "conffiles").read_text() == "/etc/emitd/emitd.yml\n"
    postinst = (ctl / "postinst").read_text()
    assert "adduser --system" in postinst
    assert "deb-systemd-helper enable emitd.service" in postinst
    # enabled, never started: no start command outside comments
    assert not re.search(r"^[^#\n]*\b(deb-systemd-invoke|systemctl|service)\b[^#\n]*\bstart\b",
                         postinst, re.M), postinst
    for script in ("postinst", "prerm", "postrm"):
        assert os.stat(ctl / script).st_mode & 0o111, script
        subprocess.run(["sh", "-n", str(ctl / script)], check=True)


def test_example_spec_counts_what_bash_runs(agent_factory, tmp_path):
    """The packaged /etc/emitd/emitd.yml has something to count on any host.
    (A short path: string labels keep 31 bytes.)"""
    prog = f"/tmp/emitd-ex-{os.getpid()}"
    shutil.copy("/bin/true", prog)
    try:
        a = agent_factory(spec=os.path.join(ROOT, "deploy", "emitd.yml"))
        a.wait_ready()
        subprocess.run(["/bin/bash", "-c", f"{prog}; {prog}; {prog}"], check=True)
        key = ("bash_commands_executed_total", frozenset({("command", prog)}))
        assert wait_until(lambda: a.metrics().get(key) == 3), a.metrics().get(key)
    finally:
        os.unlink(prog)
