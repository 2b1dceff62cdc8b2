"""USDT probes of real binaries: %rip-relative operands, names as users write them.

- A small C program compiled here (gcc writes its globals' operands as
  `-4@g_count(%rip)` and `-4@8+g_pair(%rip)`) read at both site kinds: the
  1-byte nop of <sys/sdt.h> (emulated: the kernel's int3 path) and the nop5 of
  emitd_probe.h (optimized into a call). Every hit must read the variable at
  its runtime address, so the registers' ip at the handler is the site itself.
- PostgreSQL 15 (Debian's postgresql-15), whose checkpoint__done and
  buffer__sync__done operands are `-4@40+CheckpointStats(%rip)` and
  `-4@NBuffers(%rip)`: counted exactly against the CHECKPOINTs the test runs,
  NBuffers read as a gauge and checked against SHOW shared_buffers.
- `postgresql:transaction-commit` as the docs spell it, and "did you mean".

Filtering: the checkpoint probes fire in the checkpointer and the
transaction probes in a backend, so those metrics attach with `pid:` of that
one process and count the test's cluster alone. (`pid:` of the postmaster
would not follow its forks.) The compiled program is a fresh file, so its
binary-path attach counts it alone.
"""
import os
import re
import subprocess

import pytest

from conftest import EMITD, ROOT, require_environment, sample, wait_until
from pg import POSTGRES, PgCluster

PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef NOP5
#include "emitd_probe.h"
#define PROBE3 EMITD_PROBE3
#else
#include <sys/sdt.h>
#define PROBE3 STAP_PROBE3
#endif

int g_count;                                    /* -4@g_count(%rip) */
struct { long a; int b; } g_pair;               /* -4@8+g_pair(%rip) */
static int g_hidden;                            /* .symtab only */

__attribute__((noipa)) void bump(int i)
{
	g_count = i;
	g_pair.b = 2 * i;
	g_hidden = 3 * i;
}

__attribute__((noipa)) void site(void)
{
	PROBE3(app, tick, g_count, g_pair.b, g_hidden);
}

int main(int argc, char **argv)
{
	int n = atoi(argv[1]), i;
	char go;

	printf("ready\n");
	fflush(stdout);
	if (read(0, &go, 1) != 1)       /* start once the agent has attached */
		return 1;
	for (i = 1; i <= n; i++) {
		bump(i);
		site();
	}
	printf("done\n");
	fflush(stdout);
	return read(0, &go, 1) < 0;     /* stay until told, so nothing is torn down */
}
"""

HEAD = """version: 1
namespace: t
targets:
  - name: app
    binary: {binary}
metrics:
"""


def counter(name, probe, arg=None, target="app"):
    value = f", value: {{ arg: {arg} }}" if arg is not None else ""
    return (f"  - name: {name}_total\n    type: counter\n    help: {name}.\n"
            f"    probe: {{ target: {target}, usdt: '{probe}'{value} }}\n")


def gauge(name, probe, arg, target="app"):
    return (f"  - name: {name}\n    type: gauge\n    help: {name}.\n"
            f"    probe: {{ target: {target}, usdt: '{probe}', value: {{ arg: {arg} }} }}\n")


def build_program(tmp_path, nop5, strip=False):
    out = os.path.join(tmp_path, ("nop5" if nop5 else "nop1") + ("-stripped" if strip else ""))
    src = os.path.join(tmp_path, "app.c")
    with open(src, "w") as f:
        f.write(PROGRAM)
    cmd = ["gcc", "-O2", "-g", "-I", os.path.join(ROOT, "include"), src, "-o", out]
    if nop5:
        cmd.insert(1, "-DNOP5")
    if strip:       # globals stay in .dynsym (-rdynamic), the static is gone
        cmd.insert(1, "-rdynamic")
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 0, f"gcc failed: {p.stderr}"
    if strip:
        subprocess.run(["strip", out], check=True)
    return out


def probes_line(binary, probe):
    p = subprocess.run([EMITD, "probes", "--usdt", binary, probe], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 1, p.stdout
    return lines[0]


def mark_of(text, needle):
    """LINE:COL of the last @needle in @text, as the spec's diagnostics count."""
    off = text.rindex(needle)
    line = text.count("\n", 0, off) + 1
    return f"{line}:{off - (text.rfind(chr(10), 0, off) + 1) + 1}"


def write_spec(tmp_path, name, text):
    path = os.path.join(tmp_path, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def run_program(binary, n):
    p = subprocess.Popen([binary, str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def finish(p):
    p.stdin.write("x")
    p.stdin.flush()
    p.stdin.close()
    assert p.wait(10) == 0


def spec_of_program(binary):
    return (HEAD.format(binary=binary) + counter("hits", "app:tick") +
            counter("count_sum", "app:tick", 0) + counter("pair_sum", "app:tick", 1) +
            counter("hidden_sum", "app:tick", 2) + gauge("count_last", "app:tick", 0))


@pytest.mark.parametrize("nop5", [False, True], ids=["emulated-nop1", "optimized-nop5"])
def test_rip_relative_operands_read_the_variable_at_every_hit(agent_factory, tmp_path, nop5):
    binary = build_program(str(tmp_path), nop5)
    line = probes_line(binary, "app:tick")
    assert '"-4@g_count(%rip) -4@8+g_pair(%rip) -4@g_hidden(%rip)"' in line, line
    assert f"kind={'nop5' if nop5 else 'emulated'}" in line and "unreadable" not in line, line

    n = 2000
    agent = agent_factory(spec=write_spec(str(tmp_path), "app.yml", spec_of_program(binary)))
    agent.wait_ready()
    p = run_program(binary, n)
    try:
        p.stdin.write("g")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "done"
        want = {"t_hits_total": n, "t_count_sum_total": n * (n + 1) // 2,
                "t_pair_sum_total": n * (n + 1), "t_hidden_sum_total": 3 * n * (n + 1) // 2,
                "t_count_last": n}
        got = wait_until(lambda: (lambda m: m if all(
            sample(m, k) == v for k, v in want.items()) else None)(agent.metrics()))
        m = agent.metrics()
        assert got, {k: sample(m, k) for k in want}
        assert sample(m, "emitd_probe_read_errors_total", what="value") == 0
    finally:
        finish(p)


def test_an_unreadable_operand_blocks_only_the_metric_that_reads_it(agent_factory, tmp_path):
    """Stripped, the binary keeps no symbol for the static g_hidden."""
    binary = build_program(str(tmp_path), nop5=True, strip=True)
    line = probes_line(binary, "app:tick")
    assert "unreadable=2 " in line, line

    n = 300
    spec = (HEAD.format(binary=binary) + counter("hits", "app:tick") +
            counter("count_sum", "app:tick", 0))
    agent = agent_factory(spec=write_spec(str(tmp_path), "ok.yml", spec))
    agent.wait_ready()
    p = run_program(binary, n)
    try:
        p.stdin.write("g")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "done"
        assert wait_until(lambda: sample(agent.metrics(), "t_count_sum_total") ==
                          n * (n + 1) // 2)
        assert sample(agent.metrics(), "t_hits_total") == n
    finally:
        finish(p)

    text = spec + counter("hidden_sum", "app:tick", 2)
    bad = write_spec(str(tmp_path), "bad.yml", text)
    a = agent_factory(spec=bad)
    assert a.proc.wait(30) == 1
    log = a.log_text()
    want = re.compile(re.escape(f"{bad}:{mark_of(text, '{ arg: 2 }')}: ") +
                      r'app:tick arg 2 "-4@g_hidden\(%rip\)" at 0x[0-9a-f]+: '
                      r"symbol g_hidden not found in \.symtab or \.dynsym")
    assert want.search(log), log


CHECKPOINTS = 3


def pg_checkpoint_spec(checkpointer):
    probes = ("postgresql:checkpoint__done", "postgresql:buffer__sync__done")
    return (HEAD.replace("binary: {binary}", f"pid: {checkpointer}") +
            counter("checkpoints", "postgresql:checkpoint-done") +   # the docs' spelling
            counter("checkpoint_written", probes[0], 0) +           # 40+CheckpointStats(%rip)
            gauge("checkpoint_nbuffers", probes[0], 1) +             # NBuffers(%rip)
            counter("syncs", probes[1]) +
            counter("sync_written", probes[1], 1) +                  # %eax
            gauge("sync_nbuffers", probes[1], 0))                    # NBuffers(%rip)


def test_postgres_checkpoint_probes_count_exactly_and_read_nbuffers(agent_factory, tmp_path):
    require_environment()
    with PgCluster(shared_buffers="12MB") as pg:
        pages = int(pg.sql("SELECT setting FROM pg_settings WHERE name = 'shared_buffers'"))
        assert pg.sql("SHOW shared_buffers") == "12MB" and pages == 12 * 1024 // 8
        spec = write_spec(str(tmp_path), "pg.yml", pg_checkpoint_spec(pg.backend_pid("checkpointer")))
        agent = agent_factory(spec=spec)
        agent.wait_ready()
        log_start = os.path.getsize(pg.log)
        stat0 = int(pg.sql("SELECT buffers_checkpoint FROM pg_stat_bgwriter"))
        for i in range(CHECKPOINTS):
            # dirty buffers, so that BufferSync has work and fires buffer__sync__done
            pg.sql(f"CREATE TABLE t{i} AS SELECT g FROM generate_series(1, 5000) g; CHECKPOINT")

        def settled():
            m = agent.metrics()
            return m if sample(m, "t_checkpoints_total") == CHECKPOINTS and \
                sample(m, "t_syncs_total") == CHECKPOINTS else None
        m = wait_until(settled)
        m = m or agent.metrics()
        assert sample(m, "t_checkpoints_total") == CHECKPOINTS
        assert sample(m, "t_syncs_total") == CHECKPOINTS
        assert sample(m, "t_checkpoint_nbuffers") == pages
        assert sample(m, "t_sync_nbuffers") == pages

        # "checkpoint complete: wrote N buffers" is CheckpointStats.ckpt_bufs_written
        with open(pg.log) as f:
            f.seek(log_start)
            wrote = [int(w) for w in re.findall(r"checkpoint complete: wrote (\d+) buffers",
                                                f.read())]
        assert len(wrote) == CHECKPOINTS, wrote
        assert sample(m, "t_checkpoint_written_total") == sum(wrote) > 0
        # BufferSync's writes are pg_stat_bgwriter.buffers_checkpoint (reported just after)
        delta = wait_until(lambda: (lambda d: d if d == sample(m, "t_sync_written_total")
                                    else None)(int(pg.sql(
                                        "SELECT buffers_checkpoint FROM pg_stat_bgwriter")) - stat0))
        assert delta == sample(m, "t_sync_written_total") > 0, delta
        assert "emitd: error" not in agent.log_text()


def test_transaction_commit_as_the_docs_spell_it(agent_factory, tmp_path):
    require_environment()
    commits, aborts = 7, 4
    with PgCluster() as pg, pg.session() as s:
        spec = (HEAD.replace("binary: {binary}", f"pid: {s.pid}") +
                counter("commits", "postgresql:transaction-commit") +
                counter("aborts", "postgresql:transaction-abort"))
        agent = agent_factory(spec=write_spec(str(tmp_path), "tx.yml", spec))
        agent.wait_ready()
        for _ in range(commits):
            assert s.run("BEGIN; SELECT 1; COMMIT;") == ["1"]
        for _ in range(aborts):
            assert s.run("BEGIN; SELECT 2; ROLLBACK;") == ["2"]
        assert wait_until(lambda: sample(agent.metrics(), "t_commits_total") == commits and
                          sample(agent.metrics(), "t_aborts_total") == aborts), agent.metrics()
        assert re.search(r"attached usdt postgresql:transaction__commit in /proc/\d+/root"
                         + re.escape(POSTGRES), agent.log_text())


@pytest.mark.parametrize("site,hint", [
    ("usdt: 'postgresql:transaction__comit'", '"postgresql:transaction__commit"'),
    ("usdt: 'postgresql:transaction_commit'", '"postgresql:transaction__commit"'),
    ("usdt: 'postgres:checkpoint__done'", '"postgresql:checkpoint__done"'),
    ("uprobe: CreateCheckPont", '"CreateCheckPoint"'),
])
def test_a_name_not_found_gets_did_you_mean(agent_factory, tmp_path, site, hint):
    spec = (HEAD.format(binary=POSTGRES) +
            "  - name: c_total\n    type: counter\n    help: c.\n"
            f"    probe: {{ target: app, {site} }}\n")
    path = write_spec(str(tmp_path), "typo.yml", spec)
    a = agent_factory(spec=path)
    assert a.proc.wait(30) == 1
    log = a.log_text()
    what = "USDT probe" if site.startswith("usdt") else "symbol"
    value = site.split(" ", 1)[1]
    where = mark_of(spec, value)
    assert f"{path}:{where}: {what} {value.strip(chr(39))} not found in {POSTGRES} " \
        f"(did you mean {hint}?)" in log, log


def test_a_name_far_from_any_gets_no_hint(agent_factory, tmp_path):
    spec = (HEAD.format(binary=POSTGRES) +
            "  - name: c_total\n    type: counter\n    help: c.\n"
            "    probe: { target: app, usdt: 'nosuch:thing_at_all' }\n")
    a = agent_factory(spec=write_spec(str(tmp_path), "far.yml", spec))
    assert a.proc.wait(30) == 1
    log = a.log_text()
    assert f"USDT probe nosuch:thing_at_all not found in {POSTGRES}\n" in log, log
