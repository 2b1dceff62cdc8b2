"""The demo target's probe sites and its summary.

No BPF here: these tests read build/demo-target as an ELF file (its
`.note.stapsdt` notes, its symbols, the bytes at each site) and run it once
to check that the summary it prints is self-consistent. They fail, never
skip, when the binary is missing.
"""
import os
import signal
import struct
import subprocess
import time

import pytest

from conftest import DEMO, ROOT, parse_exposition

NOP5 = bytes.fromhex("0f1f440000")
EM_X86_64 = 62
PT_LOAD = 1
SHT_SYMTAB = 2
STT_FUNC = 2
STB_GLOBAL = 1

# provider:name -> the argument layout spec/demo.yml relies on, as the
# size@ prefixes sys/sdt.h writes (8 = 8-byte unsigned/pointer, -8 = long).
EXPECTED_USDT = {
    ("demo", "request_done"): ["8", "-8"],   # const char *route, long latency_us
    ("demo", "payload"): ["8"],              # const double *ratio
    ("demo", "queue_depth"): ["-8"],         # long depth
    ("demo", "sensor"): ["-8", "8"],         # long sensor_id, const double *value
}
CONTEXTS = ["budget_buffer", "fractional_credit", "carryover_credit"]
DEFAULT_ROUTES = ["/api/users", "/api/orders", "/healthz"]
LATENCY_BOUNDS = [str(1 << k) for k in range(21)]        # exp2 1 .. 1048576
PAYLOAD_BOUNDS = ["0.1", "0.25", "0.5", "0.75", "0.9", "1"]


class Elf:
    """Just enough of an ELF64 little-endian reader for probe sites."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = f.read()
        d = self.data
        assert d[:4] == b"\x7fELF" and d[4] == 2 and d[5] == 1, \
            f"{path} is not a 64-bit little-endian ELF file"
        self.machine = struct.unpack_from("<H", d, 18)[0]
        phoff, shoff = struct.unpack_from("<QQ", d, 32)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from("<HHHHH", d, 54)
        self.segments = [struct.unpack_from("<IIQQQQQQ", d, phoff + i * phentsize)
                         for i in range(phnum)]
        self.sections = [struct.unpack_from("<IIQQQQIIQQ", d, shoff + i * shentsize)
                         for i in range(shnum)]
        strtab = self.sections[shstrndx]
        self.names = [self._str(strtab[4] + s[0]) for s in self.sections]

    def _str(self, off):
        return self.data[off:self.data.index(b"\0", off)].decode()

    def section(self, name):
        for sname, s in zip(self.names, self.sections):
            if sname == name:
                return s
        return None

    def read_vaddr(self, vaddr, n):
        """Bytes at a virtual address, through the PT_LOAD segment mapping."""
        for p_type, _, off, va, _, filesz, _, _ in self.segments:
            if p_type == PT_LOAD and va <= vaddr and vaddr + n <= va + filesz:
                start = off + vaddr - va
                return self.data[start:start + n]
        raise AssertionError(f"{vaddr:#x} is in no PT_LOAD segment")

    def usdt_notes(self):
        """[(provider, name, pc, [arg specs])] from .note.stapsdt."""
        notes = self.section(".note.stapsdt")
        assert notes, "no .note.stapsdt section: no USDT probes"
        base_sec = self.section(".stapsdt.base")
        off, end = notes[4], notes[4] + notes[5]
        out = []
        while off < end:
            namesz, descsz, ntype = struct.unpack_from("<III", self.data, off)
            off += 12
            name = self.data[off:off + namesz].rstrip(b"\0")
            off += (namesz + 3) & ~3
            desc = self.data[off:off + descsz]
            off += (descsz + 3) & ~3
            if name != b"stapsdt" or ntype != 3:
                continue
            pc, base, _sema = struct.unpack_from("<QQQ", desc, 0)
            provider, probe, args = desc[24:].split(b"\0")[:3]
            if base_sec:           # prelink-style adjustment; 0 when unmoved
                pc += base_sec[3] - base
            out.append((provider.decode(), probe.decode(), pc, args.decode().split()))
        return out

    def function(self, name):
        """(st_value, st_info) of a defined function symbol from .symtab."""
        for s in self.sections:
            if s[1] != SHT_SYMTAB:
                continue
            strtab = self.sections[s[6]]
            for off in range(s[4], s[4] + s[5], s[9]):
                st_name, st_info, _, st_shndx, st_value, _ = \
                    struct.unpack_from("<IBBHQQ", self.data, off)
                if (st_info & 0xf) == STT_FUNC and st_shndx and \
                        self._str(strtab[4] + st_name) == name:
                    return st_value, st_info
        raise AssertionError(f"no function symbol {name} (stripped binary?)")


@pytest.fixture(scope="module")
def elf():
    if not os.access(DEMO, os.X_OK):
        pytest.fail(f"{DEMO} is not built (run make)")
    e = Elf(DEMO)
    assert e.machine == EM_X86_64, "the nop5 site checks are for x86-64 builds"
    return e


def run_demo(*args):
    if not os.access(DEMO, os.X_OK):
        pytest.fail(f"{DEMO} is not built (run make)")
    return subprocess.run([DEMO, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def summary(*args):
    p = run_demo(*args)
    assert p.returncode == 0, f"demo-target {' '.join(args)} exited {p.returncode}: {p.stderr}"
    return parse_exposition(p.stdout), p.stdout


def family(metrics, name, label=None):
    """{label value: value} of one summary family (label=None: the one value)."""
    out = {dict(labels).get(label): v for (n, labels), v in metrics.items() if n == name}
    assert out, f"{name} missing from the summary"
    return out


# ---- probe sites ------------------------------------------------------------

def test_expected_usdt_probes_exist_with_their_argument_layout(elf):
    notes = elf.usdt_notes()
    found = {(p, n): args for p, n, _, args in notes}
    for probe, sizes in EXPECTED_USDT.items():
        assert probe in found, f"USDT {probe[0]}:{probe[1]} missing"
        got = [a.split("@")[0] for a in found[probe]]
        assert got == sizes, f"{probe[0]}:{probe[1]} args {found[probe]}, want sizes {sizes}"
    assert {p for p, _, _, _ in notes} == {"demo"}, "unexpected USDT providers"


def test_every_usdt_site_is_the_optimizable_nop5(elf):
    notes = elf.usdt_notes()
    assert notes
    for provider, name, pc, _ in notes:
        got = elf.read_vaddr(pc, 5)
        assert got == NOP5, f"{provider}:{name} at {pc:#x} holds {got.hex(' ')}, want 0f 1f 44 00 00"


def test_objdump_disassembles_each_site_as_nopl(elf):
    for provider, name, pc, _ in elf.usdt_notes():
        out = subprocess.run(["objdump", "-d", f"--start-address={pc:#x}",
                              f"--stop-address={pc + 5:#x}", DEMO],
                             capture_output=True, text=True, check=True).stdout
        insns = [l for l in out.splitlines() if l.strip().startswith(f"{pc:x}:")]
        assert len(insns) == 1, f"{provider}:{name}: no instruction at {pc:#x}:\n{out}"
        assert "0f 1f 44 00 00" in insns[0] and "nopl" in insns[0], insns[0]


def test_handle_request_entry_is_patchable_one_byte_nops(elf):
    addr, info = elf.function("handle_request")
    assert info >> 4 == STB_GLOBAL, "handle_request must be externally visible"
    assert elf.read_vaddr(addr, 5) == b"\x90" * 5, \
        f"handle_request starts {elf.read_vaddr(addr, 8).hex(' ')}, want five 90s"


def test_drop_rounding_noise_entry_is_an_ordinary_instruction(elf):
    addr, info = elf.function("drop_rounding_noise")
    assert info >> 4 == STB_GLOBAL, "drop_rounding_noise must be externally visible"
    b = elf.read_vaddr(addr, 8)
    # Not a nop, push, call or jump: the uprobe must single-step it.
    assert b[0] != 0x90 and b[:2] != b"\x0f\x1f", f"starts with a nop: {b.hex(' ')}"
    assert not 0x50 <= b[0] <= 0x57 and not (b[0] == 0x41 and 0x50 <= b[1] <= 0x57), \
        f"starts with a push: {b.hex(' ')}"
    assert b[0] not in (0xe8, 0xe9, 0xeb), f"starts with a call/jmp: {b.hex(' ')}"


# ---- the summary ------------------------------------------------------------

def check_histogram(m, name, bounds, n):
    buckets = family(m, f"{name}_bucket", "le")
    assert list(buckets) == bounds + ["+Inf"], f"{name} bounds {list(buckets)}"
    cum = list(buckets.values())
    assert all(a <= b for a, b in zip(cum, cum[1:])), f"{name} buckets not cumulative: {cum}"
    assert cum[-1] == family(m, f"{name}_count")[None] == n
    slots = [b - a for a, b in zip([0] + cum, cum)]
    assert all(slots), f"{name}: every bucket should be hit, per-bucket counts {slots}"


def test_summary_is_self_consistent():
    n = 1000
    m, _ = summary("--events", str(n), "--rate", "0")
    assert family(m, "iterations")[None] == n

    routes = family(m, "requests_total", "route")
    assert list(routes) == DEFAULT_ROUTES
    assert sum(routes.values()) == n
    assert list(routes.values()) == [334, 333, 333]

    check_histogram(m, "request_latency_us", LATENCY_BOUNDS, n)
    assert family(m, "request_latency_us_sum")[None] > 1048576
    check_histogram(m, "payload_ratio", PAYLOAD_BOUNDS, n)

    assert family(m, "queue_depth_events")[None] == n
    assert family(m, "queue_depth_last")[None] >= 0
    assert family(m, "sensor_events", "sensor") == {str(k): n for k in range(4)}
    assert len(family(m, "sensor_value_last", "sensor")) == 4

    events = family(m, "trigger_normalization_events", "context")
    zeroed = family(m, "trigger_normalization_zeroed", "context")
    before = family(m, "trigger_normalization_before_abs_sum", "context")
    after = family(m, "trigger_normalization_after_abs_sum", "context")
    assert list(events) == CONTEXTS
    assert sum(events.values()) == n
    assert list(events.values()) == [334, 333, 333]
    for c in CONTEXTS:
        assert 0 < zeroed[c] < events[c], f"{c}: want both zeroed and kept remainders"
        assert 0 <= after[c] <= before[c], f"{c}: |after| sum above |before| sum"


def test_summary_is_deterministic():
    _, a = summary("--events", "500")
    _, b = summary("--events", "500", "--rate", "0")
    assert a == b


def test_summary_of_zero_events_is_all_zero():
    m, _ = summary("--events", "0")
    assert family(m, "iterations")[None] == 0
    assert family(m, "request_latency_us_count")[None] == 0
    assert family(m, "payload_ratio_bucket", "le")["+Inf"] == 0
    assert set(family(m, "trigger_normalization_events", "context").values()) == {0}


def test_more_routes_are_generated():
    m, _ = summary("--events", "10", "--routes", "4")
    assert family(m, "requests_total", "route") == {"/r/0": 3, "/r/1": 3, "/r/2": 2, "/r/3": 2}


def test_sensor_modes_only_change_sensor_3():
    normal = family(summary("--events", "50")[0], "sensor_value_last", "sensor")
    stuck = family(summary("--events", "50", "--sensor-mode", "stuck")[0],
                   "sensor_value_last", "sensor")
    indep = family(summary("--events", "50", "--sensor-mode", "independent")[0],
                   "sensor_value_last", "sensor")
    for k in "012":
        assert normal[k] == stuck[k] == indep[k]
    assert stuck["3"] == 21.5
    assert len({normal["3"], stuck["3"], indep["3"]}) == 3


@pytest.mark.parametrize("args", [["--bogus"], ["--events", "-1"], ["--events", "1x"],
                                  ["--rate", "fast"], ["--rate", "-2"], ["--routes", "0"],
                                  ["--sensor-mode", "broken"], ["extra"]])
def test_bad_arguments_are_usage_errors(args):
    p = run_demo(*args)
    assert p.returncode == 2, f"{args}: exit {p.returncode}"
    assert "Usage:" in p.stderr and not p.stdout


def test_help_names_every_flag():
    p = run_demo("--help")
    assert p.returncode == 0
    for flag in ("--events", "--rate", "--routes", "--sensor-mode", "--wait-signal", "--help"):
        assert flag in p.stdout


def start_demo(*args):
    if not os.access(DEMO, os.X_OK):
        pytest.fail(f"{DEMO} is not built (run make)")
    return subprocess.Popen([DEMO, *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_wait_signal_emits_nothing_before_sigusr1():
    p = start_demo("--wait-signal", "--events", "5")
    try:
        line = p.stderr.readline()
        assert f"pid {p.pid} waiting for SIGUSR1" in line, line
        assert p.poll() is None, "exited before SIGUSR1"
        p.send_signal(signal.SIGUSR1)
        out, err = p.communicate(timeout=10)
    finally:
        p.kill()
    assert p.returncode == 0, err
    assert family(parse_exposition(out), "iterations")[None] == 5


def test_sigterm_stops_an_endless_run_and_prints_the_totals():
    p = start_demo("--rate", "2000")
    try:
        time.sleep(0.3)
        assert p.poll() is None, "an endless run exited by itself"
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=10)
    finally:
        p.kill()
    assert p.returncode == 0, err
    m = parse_exposition(out)
    n = family(m, "iterations")[None]
    assert n > 0
    assert sum(family(m, "requests_total", "route").values()) == n
    assert family(m, "request_latency_us_bucket", "le")["+Inf"] == n
    assert sum(family(m, "trigger_normalization_events", "context").values()) == n
