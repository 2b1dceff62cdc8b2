"""Probe discovery: `emitd probes` and `emitd init`, on binaries nobody here wrote.

The listing is checked against readelf (binutils), an independent reader of
the same notes; `init`'s spec must lint clean and, run by the agent, attach
every USDT probe of the binary: the done-criterion of issue 12 for
PostgreSQL 15 and CPython 3.11 (Debian's postgresql-15 and python3.11).
"""
import collections
import os
import re
import subprocess

import pytest

from conftest import DEMO, EMITD, require_environment, sample, wait_until
from pg import POSTGRES, PgCluster

PYTHON = "/usr/bin/python3.11"
LINE = re.compile(r'^usdt:(?P<path>[^:]+):(?P<probe>[^ ]+) sites=(?P<sites>\d+) '
                  r'semaphore=(?P<sema>yes|no) kind=(?P<kind>\S+) args=(?P<args>\d+)'
                  r'(?: unreadable=(?P<bad>\S+))? "(?P<ops>[^"]*)"$')


def need(path):
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is missing (make deps: postgresql-15 python3.11; make all)")
    return path


def emitd(*args, check=True):
    p = subprocess.run([EMITD, *args], capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, f"emitd {' '.join(args)} exited {p.returncode}:\n{p.stderr}"
    return p


def readelf_usdt(path):
    """{provider:name: [operand strings of each site]} from readelf -n."""
    out = subprocess.run(["readelf", "-n", "--wide", path], capture_output=True, text=True,
                         check=True).stdout
    probes = collections.defaultdict(list)
    prov = name = None
    for line in out.splitlines():
        m = re.search(r"Provider: (\S+)", line)
        if m:
            prov = m.group(1)
        m = re.search(r"Name: (\S+)", line)
        if m:
            name = m.group(1)
        m = re.search(r"Arguments: ?(.*)$", line)
        if m:
            probes[f"{prov}:{name}"].append(m.group(1).strip())
    assert probes, f"readelf finds no USDT probe in {path}"
    return probes


def usdt_lines(*args):
    out = {}
    for line in emitd("probes", "--usdt", *args).stdout.splitlines():
        m = LINE.match(line)
        assert m, f"unexpected line: {line!r}"
        out[m["probe"]] = m
    return out


@pytest.mark.parametrize("binary", [DEMO, POSTGRES, PYTHON], ids=["demo", "postgres", "python"])
def test_usdt_listing_matches_readelf(binary):
    want = readelf_usdt(need(binary))
    got = usdt_lines(binary)
    assert sorted(got) == sorted(want)
    assert list(got) == sorted(got), "probes are listed sorted by provider:name"
    for probe, sites in want.items():
        m = got[probe]
        assert m["path"] == binary
        assert int(m["sites"]) == len(sites), probe
        assert m["ops"] == sites[0], probe
        assert int(m["args"]) == len(sites[0].split()), probe
        assert m["bad"] is None, f"{probe}: operands emitd cannot read: {m['bad']}"


def test_site_kinds_and_semaphores():
    demo = usdt_lines(need(DEMO))
    assert {m["kind"] for m in demo.values()} == {"nop5"}       # emitd_probe.h's sites
    assert {m["sema"] for m in demo.values()} == {"no"}
    pg = usdt_lines(need(POSTGRES))
    assert {m["kind"] for m in pg.values()} == {"emulated"}     # <sys/sdt.h>'s 1-byte nop
    assert {m["sema"] for m in pg.values()} == {"yes"}          # PostgreSQL guards its probes
    assert pg["postgresql:buffer__sync__done"]["ops"] == "-4@NBuffers(%rip) -4@%eax -4@%r14d"


def test_functions_with_their_site_kind():
    out = emitd("probes", "--functions", DEMO).stdout.splitlines()
    assert all(line.startswith(f"uprobe:{DEMO}:") for line in out), out
    assert not any(line.startswith("usdt:") for line in out)
    assert f"uprobe:{DEMO}:handle_request kind=emulated" in out        # five 1-byte nops
    assert f"uprobe:{DEMO}:drop_rounding_noise kind=single-step" in out
    names = [line.split(":")[2].split()[0] for line in out]
    assert names == sorted(set(names)), "sorted, each name once"


def test_patterns_and_the_dash_spelling():
    got = emitd("probes", POSTGRES, "postgresql:transaction-c*").stdout.splitlines()
    assert [line.split()[0] for line in got] == [
        f"usdt:{POSTGRES}:postgresql:transaction__commit"]
    got = emitd("probes", "--functions", POSTGRES, "CreateCheckPoin?").stdout.splitlines()
    assert [line.split()[0] for line in got] == [f"uprobe:{POSTGRES}:CreateCheckPoint"], got
    assert emitd("probes", POSTGRES, "no-such-*").stdout == ""


def test_verbose_lists_every_site():
    out = emitd("probes", "-v", "--usdt", POSTGRES, "postgresql:sort__start").stdout
    lines = out.splitlines()
    assert LINE.match(lines[0])["sites"] == "4"
    sites = [line for line in lines[1:] if line.startswith("    site 0x")]
    assert len(sites) == 4 and len(set(sites)) == 4, out


def test_pid_lists_the_executable_and_its_libraries():
    p = subprocess.Popen([need(PYTHON), "-c", "import sys; sys.stdin.read()"],
                         stdin=subprocess.PIPE)
    try:
        def listed():
            out = emitd("probes", "--pid", str(p.pid), check=False)
            return out if out.returncode == 0 and "libc.so.6:malloc " in out.stdout else None
        out = wait_until(listed).stdout
        assert f"usdt:{PYTHON}:python:function__entry sites=1" in out
        libc = re.search(r"^uprobe:(/\S+/libc\.so\.6):malloc kind=\S+$", out, re.M)
        assert libc, "libc's malloc missing"
        assert sorted(usdt_lines("--pid", str(p.pid), "python:*")) == \
            sorted(readelf_usdt(PYTHON))
    finally:
        p.stdin.close()
        p.wait(10)


@pytest.mark.parametrize("args,code", [
    ([], 2), (["--pid", "x"], 2), (["--pid", "0"], 2), ([DEMO, "a", "b"], 2),
    (["--pid", "1", "a", "b"], 2), (["--bogus", DEMO], 2),
    (["/proc/self/cmdline"], 1), (["/nonexistent"], 1),
])
def test_bad_invocations(args, code):
    p = emitd("probes", *args, check=False)
    assert p.returncode == code, (args, p.stderr)
    assert p.stdout == "" and p.stderr


# ---- emitd init ---------------------------------------------------------------

@pytest.mark.parametrize("binary", [DEMO, POSTGRES, PYTHON], ids=["demo", "postgres", "python"])
def test_init_writes_a_spec_that_lints_clean(tmp_path, binary):
    spec = os.path.join(tmp_path, "init.yml")
    emitd("init", "--binary", need(binary), "--out", spec)
    text = open(spec).read()
    probes = readelf_usdt(binary)
    for probe in probes:
        assert f"usdt: '{probe}' }}" in text, probe
    names = re.findall(r"^  - name: (\S+)$", text.split("\nmetrics:\n")[1], re.M)
    assert len(names) == len(set(names)) == len(probes)
    assert all(re.fullmatch(r"[a-z0-9_]+_total", n) and "__" not in n for n in names), names
    lint = emitd("lint", spec, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert lint.stdout.strip() == f"{spec}: ok ({len(probes)} metrics, 1 targets)"
    assert "warning" not in lint.stderr, lint.stderr


def test_init_names_and_output():
    out = emitd("init", "--binary", PYTHON).stdout          # standard output by default
    assert "namespace: python3_11\n" in out and "  - name: python3.11\n" in out
    assert "  - name: python_function_entry_total\n" in out
    assert "  # python:gc__start: 1 site, a semaphore; operands: -4@112(%rsp)\n" in out
    out = emitd("init", "--binary", PYTHON, "--namespace", "py", "--target", "cpython").stdout
    assert "namespace: py\n" in out and "probe: { target: cpython, usdt: 'python:line' }" in out


def test_init_refuses_to_overwrite_without_force(tmp_path):
    spec = os.path.join(tmp_path, "mine.yml")
    with open(spec, "w") as f:
        f.write("# someone's spec\n")
    p = emitd("init", "--binary", DEMO, "--out", spec, check=False)
    assert p.returncode == 1 and "exists; --force replaces it" in p.stderr
    assert open(spec).read() == "# someone's spec\n"
    emitd("init", "--binary", DEMO, "--out", spec, "--force")
    assert "usdt: 'demo:request_done'" in open(spec).read()


def test_init_makes_names_unique_and_stops_at_the_spec_limit(tmp_path):
    """gcc-built probes a__b and a_b both become app_a_b_total; 70 probes, 64 metrics."""
    src = os.path.join(tmp_path, "many.c")
    body = "".join(f"\tSTAP_PROBE(app, p{i:02});\n" for i in range(68))
    with open(src, "w") as f:
        f.write("#include <sys/sdt.h>\nint main(void)\n{\n\tSTAP_PROBE(app, a__b);\n"
                f"\tSTAP_PROBE(app, a_b);\n{body}\treturn 0;\n}}\n")
    binary = os.path.join(tmp_path, "many")
    subprocess.run(["gcc", "-O2", src, "-o", binary], check=True)
    spec = os.path.join(tmp_path, "many.yml")
    p = emitd("init", "--binary", binary, "--out", spec)
    assert "has 70 USDT probes; a spec holds 64 metrics, the last 6 are left out" in p.stderr
    text = open(spec).read()
    names = re.findall(r"^  - name: (\S+)$", text.split("\nmetrics:\n")[1], re.M)
    assert names[:3] == ["app_a_b_total", "app_a_b_2_total", "app_p00_total"], names[:3]
    assert len(names) == len(set(names)) == 64
    assert "(64 probes, 64 sites)" in text
    assert emitd("lint", spec).stdout.strip() == f"{spec}: ok (64 metrics, 1 targets)"


@pytest.mark.parametrize("args,code,msg", [
    (["--binary", "/bin/true"], 1, "has no USDT probe emitd can name"),
    (["--binary", "/proc/self/cmdline"], 1, "not an ELF file"),
    (["--binary", DEMO, "--namespace", "emitd"], 1, "namespace"),
    (["--binary", DEMO, "--target", "a b"], 1, "--target"),
    ([], 2, "needs --binary PATH"),
    (["--binary", DEMO, "extra"], 2, "unexpected arguments"),
])
def test_init_errors(args, code, msg):
    p = emitd("init", *args, check=False)
    assert p.returncode == code and msg in p.stderr, p.stderr
    assert p.stdout == ""


# ---- every USDT probe attaches --------------------------------------------------

def attach_every_probe(agent_factory, tmp_path, binary, pid=None):
    """Run `init`'s spec; every probe and site attached, the agent healthy."""
    spec = os.path.join(tmp_path, "all.yml")
    emitd("init", "--binary", binary, "--out", spec)
    probes = readelf_usdt(binary)
    agent = agent_factory(spec=spec, extra=("--pid", str(pid)) if pid else ())
    agent.wait_ready(timeout=60)
    log = agent.log_text()
    shown = f"/proc/{pid}/root{binary}" if pid else binary
    attached = re.findall(r"attached usdt (\S+) in " + re.escape(shown), log)
    assert sorted(set(attached)) == sorted(probes), \
        f"{len(set(attached))} of {len(probes)} probes attached:\n{log}"
    assert len(attached) == sum(len(s) for s in probes.values())
    return agent


def test_every_python_probe_attaches_and_counts(agent_factory, tmp_path):
    """--pid: pytest itself is a python3.11 that a binary-path attach would count."""
    require_environment()
    gcs = 25
    # gc.disable(): no collection but the test's; each gc.collect() is one gc__start
    p = subprocess.Popen([need(PYTHON), "-c",
                          "import gc, sys\ngc.disable()\nprint('ready', flush=True)\n"
                          f"sys.stdin.readline()\nfor _ in range({gcs}): gc.collect()\n"
                          "print('done', flush=True)\nsys.stdin.read()"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        agent = attach_every_probe(agent_factory, str(tmp_path), PYTHON, pid=p.pid)
        p.stdin.write("go\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "done"
        assert wait_until(lambda: sample(agent.metrics(), "python3_11_python_gc_start_total")
                          == gcs), agent.metrics()
        assert sample(agent.metrics(), "python3_11_python_gc_done_total") == gcs
    finally:
        p.stdin.close()
        p.wait(10)


def test_every_postgres_probe_attaches(agent_factory, tmp_path):
    """Every process of the binary (CI runs no other PostgreSQL; see the README)."""
    require_environment()
    with PgCluster() as pg:
        agent = attach_every_probe(agent_factory, str(tmp_path), need(POSTGRES))
        pg.sql("CREATE TABLE t AS SELECT 1 AS x; CHECKPOINT")
        assert wait_until(lambda: sample(agent.metrics(),
                                         "postgres_postgresql_checkpoint_done_total") == 1)
        assert "emitd: error" not in agent.log_text()
