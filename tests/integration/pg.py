"""A throwaway PostgreSQL 15 cluster for integration tests (not a fixture file).

    with PgCluster(shared_buffers="12MB") as pg:
        pg.sql("CHECKPOINT")
        pid = pg.backend_pid("checkpointer")
        with pg.session() as s:          # one backend: s.pid
            s.run("BEGIN; SELECT 1; COMMIT;")

The cluster is initdb'd as the `postgres` user into its own directory under
/tmp (pytest's tmp_path is root's 0700 and the server refuses to run as root),
listens on 127.0.0.1 on a free port and on a unix socket in that directory,
and is stopped and removed on exit. Debian's postgresql-15 package provides
the binaries (`make deps`); a machine without them fails, never skips.
"""
import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

from conftest import end_process, free_port, wait_until

PG_BIN = "/usr/lib/postgresql/15/bin"
POSTGRES = os.path.join(PG_BIN, "postgres")
PSQL = "/usr/bin/psql"
PG_USER = "postgres"


def require_postgres():
    """Fail loudly when the machine has no PostgreSQL 15 to run."""
    missing = [f for f in (POSTGRES, os.path.join(PG_BIN, "initdb"),
                           os.path.join(PG_BIN, "pg_ctl"), PSQL) if not os.access(f, os.X_OK)]
    if missing:
        pytest.fail("PostgreSQL 15 is not installed (make deps: postgresql-15, "
                    f"postgresql-client-15): missing {', '.join(missing)}")
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        pytest.fail(f"no {PG_USER} user: the server must not run as root")


class PgCluster:
    """initdb, start, SQL through psql, stop and clean up."""

    def __init__(self, shared_buffers="12MB", settings=None):
        require_postgres()
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="emitd-pg-")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "server.log")
        self.settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": self.dir,
            "shared_buffers": shared_buffers,
            "fsync": "off",                 # a test cluster: speed over durability
            "checkpoint_timeout": "1h",     # no checkpoint the test did not ask for
            "max_wal_size": "1GB",
            "autovacuum": "off",
            **(settings or {}),
        }
        pw = pwd.getpwnam(PG_USER)
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.started = False

    def _run(self, *args, timeout=60, check=True):
        p = subprocess.run(list(args), user=PG_USER, group=PG_USER, cwd=self.dir,
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode:
            pytest.fail(f"{' '.join(args)} exited {p.returncode}:\n{p.stdout}{p.stderr}"
                        f"{self.server_log()}")
        return p

    def server_log(self):
        try:
            with open(self.log) as f:
                return "\n-- server log --\n" + f.read()[-4000:]
        except OSError:
            return ""

    def start(self):
        self._run(os.path.join(PG_BIN, "initdb"), "-D", self.data, "-U", PG_USER,
                  "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
        opts = " ".join(f"-c {k}={v}" for k, v in self.settings.items())
        self._run(os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l", self.log,
                  "-o", opts, "-w", "-t", "60", "start")
        self.started = True
        return self

    def sql(self, query, db="postgres"):
        """Run @query through psql; its unaligned, tuples-only output."""
        p = self._run(PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.dir,
                      "-p", str(self.port), "-U", PG_USER, "-d", db, "-At", "-c", query)
        return p.stdout.strip()

    def session(self, db="postgres"):
        """A psql session that stays connected to @db: one backend, one pid."""
        return PgSession(self, db)

    def postmaster_pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def backend_pid(self, backend_type):
        """The pid of an auxiliary process of this cluster ("checkpointer")."""
        pid = wait_until(lambda: self.sql(
            f"SELECT pid FROM pg_stat_activity WHERE backend_type = '{backend_type}'"))
        assert pid, f"no {backend_type} in pg_stat_activity"
        return int(pid)

    def stop(self):
        if self.started:
            self._run(os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", "fast",
                      "-w", "-t", "60", "stop", check=False)
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()


class PgSession:
    """One long-lived backend: SQL in through psql's stdin, output read back
    up to a marker, so a test knows its statements have run."""

    def __init__(self, pg, db="postgres"):
        self.proc = subprocess.Popen(
            [PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", pg.dir, "-p", str(pg.port),
             "-U", PG_USER, "-d", db, "-At"],
            user=PG_USER, group=PG_USER, cwd=pg.dir, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.marks = 0
        self.pid = int(self.run("SELECT pg_backend_pid();")[0])

    def run(self, sql):
        """Run @sql; the lines it printed."""
        self.marks += 1
        mark = f"emitd-mark-{self.marks}"
        self.proc.stdin.write(f"{sql}\n\\echo {mark}\n")
        self.proc.stdin.flush()
        lines = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                pytest.fail(f"psql exited {self.proc.wait()}: {''.join(lines)}")
            if line.strip() == mark:
                return lines
            lines.append(line.strip())

    def close(self):
        end_process(self.proc, lambda p: p.stdin.close())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
