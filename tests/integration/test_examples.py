"""examples/postgresql.yml and examples/python.yml against the real thing.

Each example spec runs as shipped (with --pid: see below) against Debian's
PostgreSQL 15 or CPython 3.11 doing a known workload, and every count is
compared exactly with the application's own statistics.

PostgreSQL. A throwaway cluster (pg.py) with autovacuum off, no parallel
workers, wal_level=minimal and no timed checkpoint: then the workload
backend and the checkpointer are the only processes that commit, abort,
read buffers of the workload's database or insert WAL while the test
watches. The agent attaches to those two (--pid, repeated), so another
PostgreSQL on the host cannot enter the counts.
- transaction commits and aborts against pg_stat_database.xact_commit and
  xact_rollback of the workload's database (CommitTransaction and
  AbortTransaction fire the probe and count the transaction for pgstat, in
  the same function; parallel workers would fire it without the count);
- buffer reads with datid = that database against blks_hit (found 1) and
  blks_read (found 0): ReadBufferExtended counts a read for pgstat and a
  hit when ReadBuffer_common, which fires the probe, found the page;
- WAL records by rmid against pg_waldump --stats over the LSN range the
  workload wrote (XLogInsert fires the probe once per record);
- checkpoints and the buffers they wrote against pg_stat_bgwriter
  (checkpoints_req, buffers_checkpoint).
Statistics are flushed before they are read: pg_stat_force_next_flush() in
the backend before the baseline and after the workload.

CPython. examples/python_workload.py waits for SIGUSR1 so the agent attaches
(--pid: pytest is a python3.11 too) before the work, which runs under a
profile function: CPython 3.11 fires function__entry only then, where it
calls that function with "call" (cpython gh-98894). Its 106 function names
overflow the budget of 64, so the test checks the folding into __other__
with exact totals; the collections by generation and the unreachable
objects are checked against gc.get_stats() deltas.
"""
import os
import re
import shutil
import signal
import subprocess

import pytest

from conftest import EMITD, ROOT, require_environment, sample, wait_until
from pg import PG_BIN, PgCluster

EXAMPLES = os.path.join(ROOT, "examples")
PG_SPEC = os.path.join(EXAMPLES, "postgresql.yml")
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
PG_WALDUMP = os.path.join(PG_BIN, "pg_waldump")
PG_DB = "emitd_example"
PG_SETTINGS = {
    "wal_level": "minimal",             # no standby snapshots from the bgwriter
    "max_wal_senders": "0",             # (wal_level=minimal needs it)
    "max_parallel_workers_per_gather": "0",  # the backend's work stays in the backend
    "wal_keep_size": "256MB",           # the CHECKPOINT removes no segment pg_waldump reads
}
FLUSH = "SELECT pg_stat_force_next_flush() FROM pg_class LIMIT 1;"


@pytest.mark.parametrize("spec", ["postgresql.yml", "python.yml"])
def test_example_specs_lint_clean(spec):
    """Lint (promtool parses every panel and alert) with no warning."""
    path = os.path.join(EXAMPLES, spec)
    p = subprocess.run([EMITD, "lint", path], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith(f"{path}: ok ("), p.stdout + p.stderr
    assert p.stderr == "", p.stderr


def series(m, name):
    """{frozenset(labels): value} of one metric."""
    return {labels: v for (n, labels), v in m.items() if n == name}


def by_label(m, name, label):
    """{int(label value): value}; folded series left out."""
    return {int(dict(k)[label]): v for k, v in series(m, name).items()
            if dict(k)[label] != "__other__"}


def assert_promtool_clean(agent, namespace):
    """promtool check metrics finds nothing in the example's own families
    (emitd's self-metrics are another spec's matter)."""
    _, _, body = agent.get("/metrics")
    own = re.compile(rf"^(# (HELP|TYPE) )?{namespace}_")
    text = "".join(line + "\n" for line in body.decode().splitlines() if own.match(line))
    assert text.count("# TYPE ") >= 3, text
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True)
    assert p.returncode == 0 and not (p.stdout + p.stderr).strip(), p.stdout + p.stderr


def pg_stat_database(pg):
    row = pg.sql("SELECT xact_commit, xact_rollback, blks_hit, blks_read FROM "
                 f"pg_stat_database WHERE datname = '{PG_DB}'")
    return dict(zip(("commit", "rollback", "hit", "read"), map(int, row.split("|"))))


def pg_stat_bgwriter(pg):
    row = pg.sql("SELECT checkpoints_req, buffers_checkpoint FROM pg_stat_bgwriter")
    return dict(zip(("checkpoints", "written"), map(int, row.split("|"))))


def waldump_stats(pg, start, end):
    """{rmid: records} between two LSNs, from pg_waldump --stats; the rmid of
    each row is its place in pg_waldump --rmgr=list."""
    names = subprocess.run([PG_WALDUMP, "--rmgr=list"], capture_output=True, text=True,
                           check=True).stdout.split()
    p = subprocess.run([PG_WALDUMP, "-p", os.path.join(pg.data, "pg_wal"), "-s", start,
                        "-e", end, "--stats"], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    rows = dict(re.findall(r"^(\w+)\s+(\d+) \(", p.stdout, re.M))
    total = int(re.search(r"^Total\s+(\d+)", p.stdout, re.M).group(1))
    counts = {rmid: int(rows[name]) for rmid, name in enumerate(names)
              if int(rows.get(name, 0))}
    assert sum(counts.values()) == total > 0, p.stdout
    return counts


def pg_workload(s):
    """Run the known workload in session @s; return (commits, aborts) it ran."""
    commits = aborts = 0

    def run(sql, c=0, a=0):
        nonlocal commits, aborts
        out = s.run(sql)
        commits += c
        aborts += a
        return out

    run("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 20000) g;", c=1)
    for i in range(1, 41):
        run(f"UPDATE items SET name = name || '+' WHERE id = {i * 97};", c=1)
    for _ in range(3):
        run("BEGIN; UPDATE items SET name = name || '.' WHERE id % 5 = 0; COMMIT;", c=1)
    for _ in range(7):
        run("BEGIN; DELETE FROM items WHERE id % 3 = 0; ROLLBACK;", a=1)
    assert run("SELECT count(*) FROM items WHERE name LIKE '%+%';", c=1) == ["40"]
    # an error aborts the statement's transaction; one inside a block aborts
    # the block, and its ROLLBACK only ends it
    out = run("\\set ON_ERROR_STOP off\nSELECT 1 / 0;\nBEGIN; SELECT 1 / 0; ROLLBACK;\n"
              "\\set ON_ERROR_STOP on", a=2)
    assert sum("division by zero" in line for line in out) == 2, out
    run("CHECKPOINT;", c=1)
    return commits, aborts


def test_postgresql_example_counts_what_postgres_counts(agent_factory, tmp_path):
    require_environment()
    with PgCluster(settings=PG_SETTINGS) as pg:
        pg.sql(f"CREATE DATABASE {PG_DB}")
        datid = int(pg.sql(f"SELECT oid FROM pg_database WHERE datname = '{PG_DB}'"))
        with pg.session(db=PG_DB) as s:
            # Created before the baseline: with wal_level=minimal, the commit of
            # a table's creation WAL-logs its pages through a relation without
            # statistics, reads the probe counts and pg_stat does not (README)
            s.run("CREATE TABLE items (id int PRIMARY KEY, name text);")
            s.run(FLUSH)                 # the session's start is in the baseline
            db0, bg0 = pg_stat_database(pg), pg_stat_bgwriter(pg)
            agent = agent_factory(spec=PG_SPEC, extra=(
                "--pid", str(s.pid), "--pid", str(pg.backend_pid("checkpointer"))))
            agent.wait_ready()
            start = s.run("SELECT pg_current_wal_insert_lsn();")[0]
            commits, aborts = pg_workload(s)
            end = s.run("SELECT pg_current_wal_insert_lsn();")[0]
            s.run(FLUSH)
            commits += 3                 # the two LSN queries, the flush
            flushed = pg.sql(f"SELECT pg_current_wal_flush_lsn() >= '{end}'::pg_lsn")
            assert flushed == "t", "the workload's WAL is not all on disk"
            wal = waldump_stats(pg, start, end)
            db1 = pg_stat_database(pg)
            bg1 = wait_until(lambda: (lambda b: b if b["checkpoints"] > bg0["checkpoints"]
                                      else None)(pg_stat_bgwriter(pg)))
            assert bg1, "pg_stat_bgwriter never counted the CHECKPOINT"

        want = {
            "postgresql_transaction_commits_total": db1["commit"] - db0["commit"],
            "postgresql_transaction_aborts_total": db1["rollback"] - db0["rollback"],
            "postgresql_checkpoints_total": bg1["checkpoints"] - bg0["checkpoints"],
            "postgresql_checkpoint_buffers_written_total": bg1["written"] - bg0["written"],
        }

        def settled():
            """Every count at its value: a drain reads one map after the other."""
            m = agent.metrics()
            reads = series(m, "postgresql_buffer_reads_total")
            ok = all(sample(m, k) == v for k, v in want.items()) and \
                by_label(m, "postgresql_wal_records_total", "rmid") == wal and \
                reads.get(frozenset({("datid", str(datid)), ("found", "1")})) == \
                db1["hit"] - db0["hit"] and \
                reads.get(frozenset({("datid", str(datid)), ("found", "0")})) == \
                db1["read"] - db0["read"]
            return m if ok else None
        m = wait_until(settled) or agent.metrics()
        assert want["postgresql_transaction_commits_total"] == commits
        assert want["postgresql_transaction_aborts_total"] == aborts
        for k, v in want.items():
            assert sample(m, k) == v, (k, sample(m, k), v)
        assert by_label(m, "postgresql_wal_records_total", "rmid") == wal
        reads = series(m, "postgresql_buffer_reads_total")
        assert reads.get(frozenset({("datid", str(datid)), ("found", "1")})) == \
            db1["hit"] - db0["hit"]
        assert reads.get(frozenset({("datid", str(datid)), ("found", "0")})) == \
            db1["read"] - db0["read"]
        assert sample(m, "emitd_probe_read_errors_total", what="label") == 0
        assert_promtool_clean(agent, "postgresql")


PYTHON = "/usr/bin/python3.11"
PY_SPEC = os.path.join(EXAMPLES, "python.yml")
PY_WORKLOAD = os.path.join(EXAMPLES, "python_workload.py")


def parse_done(line):
    words = line.split()
    assert words and words[0] == "done", line
    return {k: int(v) for k, v in (w.split("=", 1) for w in words[1:])}


def known_calls(functions=100, rounds=20):
    """What python_workload.py calls, by its construction."""
    calls = {"fib": 21891, "countdown": 51 * rounds, "__init__": 50 * rounds,
             "norm2": 50 * rounds}
    calls.update({f"f_{i:03d}": i % 7 + 1 for i in range(functions)})
    return calls


def test_python_example_counts_what_the_interpreter_counts(agent_factory, tmp_path):
    """--pid: a binary-path attach would count pytest's own python3.11 too."""
    require_environment()
    if not os.access(PYTHON, os.X_OK):
        pytest.fail(f"{PYTHON} is missing (make deps: python3.11)")
    p = subprocess.Popen([PYTHON, PY_WORKLOAD, "--wait-signal"], stdout=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout.readline().split() == ["ready", str(p.pid)]
        agent = agent_factory(spec=PY_SPEC, extra=("--pid", str(p.pid)))
        agent.wait_ready()
        m = agent.metrics()
        assert by_label(m, "python_gc_collections_total", "generation") == \
            {0: 0, 1: 0, 2: 0}, "the generations are warm series"
        p.send_signal(signal.SIGUSR1)
        done = parse_done(p.stdout.readline())
        calls = {k[len("calls."):]: v for k, v in done.items() if k.startswith("calls.")}
        assert calls == known_calls()
        gcs = {g: done[f"gc.{g}"] for g in range(3)}
        assert all(gcs.values()), gcs

        def settled():
            """A drain reads one map after the other: one that started before the
            workload's last events may show some of them; wait for all three."""
            m = agent.metrics()
            return m if sum(series(m, "python_function_calls_total").values()) == \
                sum(calls.values()) and \
                by_label(m, "python_gc_collections_total", "generation") == gcs and \
                m.get(("python_gc_unreachable_objects_total", frozenset())) == \
                done["gc.unreachable"] else None
        m = wait_until(settled) or agent.metrics()
        got = {dict(k)["function"]: v for k, v in
               series(m, "python_function_calls_total").items()}
        assert sum(got.values()) == sum(calls.values())
        # 106 names, a budget of 64: 63 names have their own series, the rest
        # fold into __other__ and the total stays exact
        other = got.pop("__other__")
        assert len(got) == 63 and set(got) < set(calls), sorted(got)
        assert got == {name: calls[name] for name in got}
        assert other == sum(v for name, v in calls.items() if name not in got)
        assert sample(m, "emitd_cardinality_folded_series",
                      metric="python_function_calls_total") == len(calls) - 63

        assert by_label(m, "python_gc_collections_total", "generation") == gcs
        assert sample(m, "python_gc_unreachable_objects_total") == \
            done["gc.unreachable"] > 0
        assert sample(m, "emitd_probe_read_errors_total", what="label") == 0
        assert_promtool_clean(agent, "python")
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGUSR1)
        assert p.wait(10) == 0


UNPROFILED = """
import signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
def plain():
    pass
def profiled():
    pass
print("ready", flush=True)
signal.sigwait({signal.SIGUSR1})
for _ in range(500):
    plain()
sys.setprofile(lambda frame, event, arg: None)
for _ in range(300):
    profiled()
sys.setprofile(None)
print("done", flush=True)
signal.sigwait({signal.SIGUSR1})
"""


def test_python_function_entry_fires_only_under_a_profile_function(agent_factory, tmp_path):
    """CPython 3.11 fires function__entry only while a profile or trace
    function is set (cpython gh-98894), and not for that function's own
    frames: what the README tells users of examples/python.yml."""
    require_environment()
    p = subprocess.Popen([PYTHON, "-c", UNPROFILED], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        agent = agent_factory(spec=PY_SPEC, extra=("--pid", str(p.pid)))
        agent.wait_ready()
        p.send_signal(signal.SIGUSR1)
        assert p.stdout.readline().strip() == "done"

        def calls():
            return {dict(k)["function"]: v for k, v in
                    series(agent.metrics(), "python_function_calls_total").items()}
        assert wait_until(lambda: calls() == {"profiled": 300}), calls()
        assert sample(agent.metrics(), "emitd_probe_hits_total",
                      probe="python:function__entry",
                      metric="python_function_calls_total") == 300
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGUSR1)
        assert p.wait(10) == 0
