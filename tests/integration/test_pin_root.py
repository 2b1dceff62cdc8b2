"""The pin root cannot be taken over (issue 10, item 3).

A pin root, or any directory above it, that another user could replace,
redirect or write into is refused with exit 1 and a message naming the path
and the reason. The rule (user/agent/pin_root.h): every component from / down
is a real directory (lstat: no symbolic link), owned by root or by the agent's
euid, and not writable by group or others; a directory above the pin root may
be world-writable only when it is sticky and owned by root or the euid (what
/tmp is, and what bpffs' root is when mounted without mode=). Missing
components are created mode 0700. When emitd mounts bpffs itself, it mounts
it mode 0700.

Each attack runs inside a root-owned sticky directory on the host's bpffs, so
`nobody` can create entries there whatever mode the host's /sys/fs/bpf has.
"""
import os
import shutil
import stat
import subprocess

import pytest

from conftest import (DEMO_SPEC, EMITD, ROOT, free_port, require_environment, run_demo,
                      sample, wait_until)

NOBODY = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"]


@pytest.fixture
def sticky():
    """A root-owned, world-writable sticky directory on the host's bpffs."""
    require_environment()
    d = f"/sys/fs/bpf/emitd-test-{os.getpid()}-{free_port()}-pinroot"
    os.mkdir(d)
    os.chmod(d, 0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def as_nobody(*cmd):
    subprocess.run([*NOBODY, *cmd], check=True)


def run_refused(pin_root):
    """emitd run against @pin_root: must exit 1 before attaching anything."""
    p = subprocess.run([EMITD, "run", "--spec", DEMO_SPEC, "--listen",
                        f"127.0.0.1:{free_port()}", "--pin-root", pin_root,
                        "--exit-after-ms", "3000"],
                       cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert p.returncode == 1, f"emitd accepted pin root {pin_root}: rc {p.returncode}\n{p.stderr}"
    assert "attached" not in p.stderr, p.stderr
    return p.stderr


def test_pin_root_made_by_nobody_is_refused(sticky):
    root = os.path.join(sticky, "pins")
    as_nobody("mkdir", "-m", "0700", root)
    err = run_refused(root)
    assert f"pin root {root}: {root} is owned by uid 65534" in err, err
    assert "refusing it" in err, err
    # nothing was pinned into nobody's directory
    assert os.listdir(root) == []


def test_symlinked_pin_root_is_refused(sticky):
    """nobody points a name at another agent's pins: emitd must not follow it."""
    other = os.path.join(sticky, "other-agent")
    os.mkdir(other, 0o700)
    link = os.path.join(sticky, "pins")
    as_nobody("ln", "-s", other, link)
    err = run_refused(link)
    assert f"pin root {link}: {link} is a symbolic link" in err, err
    assert os.listdir(other) == []


def test_root_owned_symlink_is_refused_too(sticky):
    other = os.path.join(sticky, "real")
    os.mkdir(other, 0o700)
    link = os.path.join(sticky, "pins")
    os.symlink(other, link)
    err = run_refused(link)
    assert f"{link} is a symbolic link" in err, err


def test_group_writable_pin_root_is_refused(sticky):
    root = os.path.join(sticky, "pins")
    os.mkdir(root)
    os.chmod(root, 0o770)
    err = run_refused(root)
    assert f"pin root {root}: {root} is writable by group or others (mode 0770)" in err, err


def test_sticky_world_writable_pin_root_itself_is_refused(sticky):
    """Sticky is enough above the pin root, not for the pin root: others
    could still create pins (or names libbpf would reuse) in it."""
    root = os.path.join(sticky, "pins")
    os.mkdir(root)
    os.chmod(root, 0o1777)
    err = run_refused(root)
    assert f"{root} is writable by group or others (mode 1777)" in err, err


def test_parent_symlink_is_refused(sticky):
    real = os.path.join(sticky, "real")
    os.mkdir(real, 0o700)
    link = os.path.join(sticky, "via")
    as_nobody("ln", "-s", real, link)
    root = os.path.join(link, "pins")
    err = run_refused(root)
    assert f"pin root {root}: {link} is a symbolic link" in err, err
    assert os.listdir(real) == []


def test_parent_owned_by_nobody_is_refused(sticky):
    """A directory above the pin root that nobody owns: nobody could rename
    the pin root away and put its own in its place."""
    parent = os.path.join(sticky, "nobodys")
    as_nobody("mkdir", "-m", "0755", parent)
    root = os.path.join(parent, "pins")
    err = run_refused(root)
    assert f"pin root {root}: {parent} is owned by uid 65534" in err, err


def test_good_pin_root_is_created_0700_and_counts(agent_factory, sticky):
    """Missing components are created 0700 (below a sticky root-owned
    directory, which is accepted), and the agent counts as before."""
    root = os.path.join(sticky, "a", "b")
    a = agent_factory(pin_root=root)
    a.wait_ready()
    for d in (os.path.join(sticky, "a"), root):
        st = os.lstat(d)
        assert stat.S_ISDIR(st.st_mode) and st.st_uid == 0, d
        assert stat.S_IMODE(st.st_mode) == 0o700, f"{d}: mode {oct(st.st_mode)}"
    run_demo("--events", "500", "--rate", "0")
    m = wait_until(lambda: (lambda m: m if m.get(("demo_request_latency_seconds_count",
                                                   frozenset())) == 500 else None)(a.metrics()))
    assert m, "the agent did not count 500 events"
    assert sample(m, "demo_request_latency_seconds_count") == 500
    assert os.path.exists(os.path.join(root, "counters"))


def test_emitd_mounts_bpffs_mode_0700(tmp_path):
    """When /sys/fs/bpf is not a bpffs, emitd mounts one there: mode 0700
    (bpffs adds the sticky bit to its root), never 1777. Run in a private
    mount namespace whose /sys/fs/bpf is covered by a tmpfs, so the host's
    bpffs and the other tests are untouched."""
    require_environment()
    pin_root = "/sys/fs/bpf/emitd-test-mount"
    script = f"""
set -e
mount -t tmpfs -o mode=0755 tmpfs /sys/fs/bpf
{EMITD} run --spec {DEMO_SPEC} --listen 127.0.0.1:{free_port()} \\
    --pin-root {pin_root} --exit-after-ms 500
stat -c 'mode=%a owner=%u' /sys/fs/bpf
stat -f -c 'fs=%T' /sys/fs/bpf
"""
    p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"rc {p.returncode}\n{p.stdout}\n{p.stderr}"
    assert "mounted bpffs on /sys/fs/bpf" in p.stderr, p.stderr
    assert "fs=bpf_fs" in p.stdout, p.stdout
    assert "mode=1700 owner=0" in p.stdout, p.stdout
