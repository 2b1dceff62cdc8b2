"""Libraries per process, the task's context as labels, target filters, and
following a pid's forks (issue 12 items 3 and 4, issue 11 item 5).

build/tests/ctx_target (tests/targets/ctx_target.c) knows its calls: it waits
for a byte on stdin, then calls ctx_hit() (or malloc()) N times in itself
and in every process of the tree it forks, and prints the total.

- A shared library as a pid target: `binary: /lib/x86_64-linux-gnu/libc.so.6`
  with --pid or `pid:` attaches to the libc the process maps (found in
  /proc/PID/maps, through /proc/PID/root), filtered to that process: its
  malloc() calls exactly. A process that does not map the library is a
  clear error at the target's line.
- Task labels: pid, tid, uid, comm and cgroup, with a fork bomb of pids
  folding into __other__ under the budget, the total exact.
- Filters: two processes of one binary in two cgroups created here, a spec
  that counts one cgroup (a cgroup created after the agent started included);
  two processes with different comms, a spec that counts one. Filtered events
  are exported in emitd_events_filtered_total{reason}.
- follow_forks: a pid target counts its whole process tree exactly while
  another process of the same binary is filtered out; PostgreSQL's
  postmaster as `pid:` with follow_forks counts its backends' commits
  exactly against pg_stat_database, where plain `pid:` counts 0.
"""
import os
import pwd
import subprocess
import time

import pytest

from conftest import (EMITD, ROOT, end_process, free_port, require_environment, sample,
                      wait_until)
from pg import POSTGRES, PgCluster

TARGET = os.path.join(ROOT, "build", "tests", "ctx_target")
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"
LIBZ = "/lib/x86_64-linux-gnu/libz.so.1"      # emitd links it; ctx_target does not


def require_target():
    require_environment()
    if not os.access(TARGET, os.X_OK):
        pytest.fail(f"{TARGET} is not built (make test-integration builds tests/targets/)")


def spec_file(tmp_path, name, text):
    path = os.path.join(str(tmp_path), name)
    with open(path, "w") as f:
        f.write(text)
    return path


def spec(targets, metrics):
    return f"version: 1\nnamespace: t\ntargets:\n{targets}metrics:\n{metrics}"


def counter(name, target, site="uprobe: ctx_hit", labels=None, budget=None):
    text = f"  - name: {name}_total\n    type: counter\n    help: {name}.\n"
    if labels:
        text += f"    labels: [{', '.join(labels)}]\n"
        srcs = ", ".join(f"{k}: {{ source: {v} }}" for k, v in labels.items())
        site += f", labels: {{ {srcs} }}"
    if budget:
        text += f"    budget: {budget}\n"
    return text + f"    probe: {{ target: {target}, {site} }}\n"


class Target:
    """One ctx_target, started and waiting for its go."""

    def __init__(self, *args, user=None):
        kw = {}
        if user:
            pw = pwd.getpwnam(user)
            kw = {"user": pw.pw_uid, "group": pw.pw_gid}
        self.proc = subprocess.Popen([TARGET, *map(str, args)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, **kw)
        line = self.proc.stdout.readline().split()
        assert line and line[0] == "pid", f"ctx_target: {line}"
        self.pid = int(line[1])

    def go(self):
        """Make its calls; the total the tree made."""
        self.proc.stdin.write("g")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline().split()
        assert line and line[0] == "done", f"ctx_target: {line}"
        return int(line[1])

    def stop(self):
        return end_process(self.proc, lambda p: p.stdin.close())


@pytest.fixture
def targets():
    started = []

    def make(*args, **kw):
        t = Target(*args, **kw)
        started.append(t)
        return t

    yield make
    for t in started:
        t.stop()


def metric_series(metrics, name):
    return {labels: v for (n, labels), v in metrics.items() if n == name}


def filtered(metrics, reason):
    return sample(metrics, "emitd_events_filtered_total", reason=reason)


def fresh(agent):
    """The page after a drain that saw every event so far (--drain-on-scrape)."""
    return agent.metrics()


# ---- libraries per process ----

@pytest.mark.parametrize("how", ["--pid", "pid:"])
def test_a_library_of_a_pid_counts_that_process_exactly(agent_factory, tmp_path, targets, how):
    require_target()
    n = 1000
    t = targets("--mallocs", n)
    other = targets("--mallocs", 777)           # the same libc, another process
    pid_line = f"    pid: {t.pid}\n" if how == "pid:" else ""
    path = spec_file(tmp_path, "libc.yml", spec(
        f"  - name: libc\n    binary: {LIBC}\n{pid_line}", counter("mallocs", "libc",
                                                                  "uprobe: malloc")))
    extra = ["--pid", str(t.pid)] if how == "--pid" else []
    agent = agent_factory(spec=path, extra=[*extra, "--drain-on-scrape"])
    agent.wait_ready()
    assert t.go() == n and other.go() == 777
    assert sample(fresh(agent), "t_mallocs_total") == n
    log = agent.log_text()
    assert f"attached uprobe malloc in /proc/{t.pid}/root/" in log, log
    assert "libc.so.6 (one pid)" in log, log


def test_a_library_the_process_does_not_map_is_a_clear_error(tmp_path, targets):
    require_target()
    t = targets(1)
    path = spec_file(tmp_path, "libz.yml", spec(
        f"  - name: z\n    binary: {LIBZ}\n", counter("inflates", "z", "uprobe: inflate")))
    p = subprocess.run([EMITD, "run", "--spec", path, "--pid", str(t.pid),
                        "--pin-root", f"/sys/fs/bpf/emitd-test-ctx-{os.getpid()}",
                        "--listen", f"127.0.0.1:{free_port()}"], capture_output=True, text=True,
                       timeout=30)
    subprocess.run([EMITD, "detach", "--purge", "--pin-root",
                    f"/sys/fs/bpf/emitd-test-ctx-{os.getpid()}"], capture_output=True)
    assert p.returncode != 0
    assert (f"{path}:5:13: target z: pid {t.pid} does not map {LIBZ} "
            f"(see /proc/{t.pid}/maps)") in p.stderr, p.stderr


# ---- task labels ----

def test_task_labels_name_the_process_its_thread_user_and_comm(agent_factory, tmp_path, targets):
    require_target()
    mine = targets("--comm", "emitd-ctx-a", 5)
    theirs = targets("--comm", "emitd-ctx-b", 3, user="nobody")
    path = spec_file(tmp_path, "labels.yml", spec(
        f"  - name: app\n    binary: {TARGET}\n",
        counter("hits", "app", labels={"pid": "pid", "tid": "tid", "uid": "uid",
                                       "comm": "comm"})))
    agent = agent_factory(spec=path, extra=["--drain-on-scrape"])
    agent.wait_ready()
    mine.go()
    theirs.go()
    got = metric_series(fresh(agent), "t_hits_total")
    nobody = pwd.getpwnam("nobody").pw_uid
    assert got == {
        frozenset({("pid", str(mine.pid)), ("tid", str(mine.pid)), ("uid", "0"),
                   ("comm", "emitd-ctx-a")}): 5,
        frozenset({("pid", str(theirs.pid)), ("tid", str(theirs.pid)),
                   ("uid", str(nobody)), ("comm", "emitd-ctx-b")}): 3,
    }, got


def test_a_fork_bomb_of_pids_folds_into_other_and_the_total_stays_exact(
        agent_factory, tmp_path, targets):
    require_target()
    budget = 16
    path = spec_file(tmp_path, "bomb.yml", spec(
        f"  - name: app\n    binary: {TARGET}\n",
        counter("hits", "app", labels={"pid": "pid"}, budget=budget)))
    agent = agent_factory(spec=path, extra=["--drain-on-scrape"])
    agent.wait_ready()
    t = targets("--fork", 10, "--depth", 2, 2)     # 111 processes, 2 calls each
    assert t.go() == 222
    got = metric_series(fresh(agent), "t_hits_total")
    assert len(got) == budget, got                  # the budget holds __other__ too
    assert got[frozenset({("pid", "__other__")})] > 0, got
    assert sum(got.values()) == 222, got


# ---- cgroups ----

def cgroup2_root():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[0] == "cgroup2":
                return left.split()[4]
    pytest.fail("no cgroup2 hierarchy mounted: cgroup filters and labels need cgroup v2")


class Cgroups:
    """Test cgroups under the cgroup2 root, emptied and removed at the end."""

    def __init__(self):
        self.root = cgroup2_root()
        self.base = f"emitd-test-{os.getpid()}-{time.monotonic_ns()}"
        self.made = []

    def make(self, rel):
        path = os.path.join(self.root, self.base, rel)
        os.makedirs(path)
        self.made.append(path)
        return f"{self.base}/{rel}"

    def move(self, pid, rel):
        with open(os.path.join(self.root, rel, "cgroup.procs"), "w") as f:
            f.write(str(pid))

    def cleanup(self):
        for path in sorted(self.made + [os.path.join(self.root, self.base)],
                           key=len, reverse=True):
            procs = os.path.join(path, "cgroup.procs")
            if os.path.exists(procs):
                with open(procs) as f:
                    for pid in f.read().split():
                        try:
                            self.move(pid, "")
                        except OSError:
                            pass
            try:
                os.rmdir(path)
            except OSError:
                pass


@pytest.fixture
def cgroups():
    cg = Cgroups()
    yield cg
    cg.cleanup()


def test_a_cgroup_filter_counts_one_cgroup_exactly_and_labels_name_each(
        agent_factory, tmp_path, targets, cgroups):
    require_target()
    a, b = cgroups.make("a"), cgroups.make("b")
    late = f"{cgroups.base}/late"              # created after the agent started
    path = spec_file(tmp_path, "cg.yml", spec(
        f"  - name: a\n    binary: {TARGET}\n    cgroup: {a}\n"
        f"  - name: late\n    binary: {TARGET}\n    cgroup: /{late}/\n"
        f"  - name: all\n    binary: {TARGET}\n",
        counter("a_hits", "a") + counter("late_hits", "late") +
        counter("hits_by_cgroup", "all", labels={"cgroup": "cgroup"})))
    agent = agent_factory(spec=path, extra=["--drain-on-scrape"])
    agent.wait_ready()
    assert f"no cgroup {cgroups.root}/{late} yet" in agent.log_text()
    ta, tb, tsub, tlate = targets(7), targets(5), targets(3), targets(2)
    cgroups.move(ta.pid, a)
    cgroups.move(tb.pid, b)
    sub = cgroups.make("a/sub")                 # below the filter's cgroup: counted
    cgroups.move(tsub.pid, sub)
    cgroups.make("late")
    assert wait_until(lambda: f"cgroup {late} (re)created" in agent.log_text(), timeout=10), \
        agent.log_text()
    cgroups.move(tlate.pid, late)
    for t in (ta, tb, tsub, tlate):
        t.go()
    m = fresh(agent)
    assert sample(m, "t_a_hits_total") == 7 + 3
    assert sample(m, "t_late_hits_total") == 2
    # every process is outside one filter or the other: 7+5+3+2 per filter, less its own
    assert filtered(m, "cgroup") == (5 + 2) + (7 + 5 + 3)
    got = metric_series(m, "t_hits_by_cgroup_total")
    assert got == {frozenset({("cgroup", "/" + a)}): 7, frozenset({("cgroup", "/" + b)}): 5,
                   frozenset({("cgroup", "/" + sub)}): 3,
                   frozenset({("cgroup", "/" + late)}): 2}, got


def test_a_comm_filter_counts_the_names_it_lists(agent_factory, tmp_path, targets):
    require_target()
    path = spec_file(tmp_path, "comm.yml", spec(
        f"  - name: app\n    binary: {TARGET}\n    comm: [emitd-ctx-a, emitd-ctx-c]\n",
        counter("hits", "app")))
    agent = agent_factory(spec=path, extra=["--drain-on-scrape"])
    agent.wait_ready()
    ta, tb, tc = (targets("--comm", "emitd-ctx-a", 4), targets("--comm", "emitd-ctx-b", 6),
                  targets("--comm", "emitd-ctx-c", 1))
    for t in (ta, tb, tc):
        t.go()
    m = fresh(agent)
    assert sample(m, "t_hits_total") == 4 + 1
    assert filtered(m, "comm") == 6


# ---- follow_forks ----

@pytest.mark.parametrize("how", ["spec", "--follow-forks"])
def test_follow_forks_counts_the_process_tree_and_nothing_else(
        agent_factory, tmp_path, targets, how):
    require_target()
    root = targets("--fork", 3, "--depth", 2, 10)       # 13 processes
    stranger = targets("--fork", 2, 4)                   # 3 processes, not followed
    follow = "    follow_forks: true\n" if how == "spec" else ""
    path = spec_file(tmp_path, "follow.yml", spec(
        f"  - name: tree\n    binary: {TARGET}\n    pid: {root.pid}\n{follow}"
        f"  - name: one\n    binary: {TARGET}\n    pid: {root.pid}\n",
        counter("tree_hits", "tree") + counter("one_hits", "one")))
    extra = ["--drain-on-scrape"] + (["--follow-forks"] if how != "spec" else [])
    agent = agent_factory(spec=path, extra=extra)
    agent.wait_ready()
    assert root.go() == 130 and stranger.go() == 12
    m = fresh(agent)
    if how == "spec":
        assert sample(m, "t_tree_hits_total") == 130
        assert sample(m, "t_one_hits_total") == 10     # pid: alone is that process
        assert filtered(m, "process") == 12
    else:                                              # both targets follow
        assert sample(m, "t_tree_hits_total") == sample(m, "t_one_hits_total") == 130
        assert filtered(m, "process") == 2 * 12
    assert sample(m, "emitd_follow_dropped_total") == 0


def test_forks_while_no_agent_runs_are_followed(agent_factory, tmp_path, targets):
    """The fork program and `followed` are pinned: a tree forked after kill -9 counts."""
    require_target()
    root = targets("--fork", 3, "--depth", 2, 10)
    path = spec_file(tmp_path, "follow.yml", spec(
        f"  - name: tree\n    binary: {TARGET}\n    pid: {root.pid}\n    follow_forks: true\n",
        counter("tree_hits", "tree") + counter("by_comm", "tree", labels={"comm": "comm"})))
    a = agent_factory(spec=path)
    a.wait_ready()
    a.proc.kill()
    a.proc.wait(10)
    assert root.go() == 130                     # 12 forks, no agent
    b = agent_factory(spec=path, pin_root=a.pin_root, extra=["--drain-on-scrape"])
    b.wait_ready()
    m = fresh(b)
    assert sample(m, "t_tree_hits_total") == 130
    assert sample(m, "t_by_comm_total", comm="ctx_target") == 130
    assert "probe links: 2 adopted, 0 attached, 0 detached" in b.log_text(), b.log_text()


def test_a_reload_changes_filters_in_place_and_detaches_the_fork_programs(
        agent_factory, tmp_path, targets):
    """SIGHUP: an adopted site's comm filter is rewritten; no follow_forks, no fork program."""
    require_target()
    from test_reload import reload
    root = targets("--comm", "emitd-ctx-a", 2)
    head = f"  - name: app\n    binary: {TARGET}\n    pid: {root.pid}\n    follow_forks: true\n"
    path = spec_file(tmp_path, "r.yml", spec(head + "    comm: [emitd-ctx-a]\n",
                                             counter("hits", "app")))
    agent = agent_factory(spec=path, extra=["--drain-on-scrape"])
    agent.wait_ready()
    links = os.path.join(agent.pin_root, "links")
    assert {"fork", "exit"} <= set(os.listdir(links))
    # the comm alone changes: the same site, its link adopted, its filter rewritten
    spec_file(tmp_path, "r.yml", spec(head + "    comm: [emitd-ctx-b]\n", counter("hits", "app")))
    reload(agent)
    assert agent.log_text().count("probe links: 1 adopted, 0 attached, 0 detached") == 1, \
        agent.log_text()
    root.go()
    m = fresh(agent)
    assert sample(m, "t_hits_total") == 0
    assert filtered(m, "comm") == 2
    # follow_forks goes: a pid site now (a new link), the fork and exit programs detached
    spec_file(tmp_path, "r.yml", spec(head.replace("    follow_forks: true\n", "") +
                                      "    comm: [emitd-ctx-b]\n", counter("hits", "app")))
    reload(agent)
    assert not {"fork", "exit"} & set(os.listdir(links)), os.listdir(links)


def postmaster_children(ppid):
    kids = set()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == ppid:
                    kids.add(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return kids


def test_follow_forks_of_the_postmaster_counts_every_backends_commits(agent_factory, tmp_path):
    require_environment()
    with PgCluster(settings={"max_logical_replication_workers": "0"}) as pg:
        pm = pg.postmaster_pid()
        path = spec_file(tmp_path, "pg.yml", spec(
            f"  - name: pg\n    pid: {pm}\n    follow_forks: true\n"
            f"  - name: pm\n    pid: {pm}\n",
            counter("commits", "pg", "usdt: 'postgresql:transaction__commit'") +
            counter("pm_commits", "pm", "usdt: 'postgresql:transaction__commit'")))
        agent = agent_factory(spec=path, extra=["--drain-on-scrape"])
        agent.wait_ready()
        aux = postmaster_children(pm)           # checkpointer, walwriter...

        def stat_commits():
            """One backend's query (the same each time); it has exited on return."""
            v = int(pg.sql("SELECT sum(xact_commit) FROM pg_stat_database"))
            assert wait_until(lambda: postmaster_children(pm) <= aux, timeout=10)
            return v

        s0 = stat_commits()
        e0 = sample(fresh(agent), "t_commits_total")
        for i in range(20):                     # 20 backends, 1 + 0..4 commits each
            pg.sql("; ".join(["BEGIN", "SELECT 1", "COMMIT"] * (1 + i % 5)))
        assert wait_until(lambda: postmaster_children(pm) <= aux, timeout=10)
        s1 = stat_commits()
        m = fresh(agent)
        e1 = sample(m, "t_commits_total")
        # s1 - s0: the first stat query's backend and the workload; e1 - e0: the
        # workload and the second stat query's backend, the same as the first's
        assert e1 - e0 == s1 - s0 >= 60, (e0, e1, s0, s1)
        assert sample(m, "t_pm_commits_total") == 0    # the postmaster commits nothing
        assert f"attached usdt postgresql:transaction__commit in /proc/{pm}/root{POSTGRES}" \
            " (a pid and its descendants)" in agent.log_text()
