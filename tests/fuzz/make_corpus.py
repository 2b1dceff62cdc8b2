#!/usr/bin/env python3
"""Regenerates the seed corpora of the fuzz targets under tests/fuzz/corpus/.

    tests/fuzz/make_corpus.py [BUILD_DIR]     (default build; needs BUILD_DIR/demo-target)

fuzz_spec          spec/demo.yml and the bad-spec corpus tests/spec_bad/*.yml
fuzz_negotiate     Accept NUL Accept-Encoding, as Prometheus 2 and 3, curl,
                   browsers, Go and Python clients send them
fuzz_expo          encoded families (the byte layout fuzz_expo.c reads)
fuzz_stapsdt_note  .note.stapsdt descriptors of build/demo-target,
                   /usr/lib/postgresql/15/bin/postgres and /usr/bin/python3.11:
                   one note per distinct operand string (only the note bytes)
fuzz_usdt_args     those operand strings
fuzz_elf_file      "provider NUL name NUL symbol NUL" + tiny_usdt.c built static
                   and small (about 1 KiB)
fuzz_labelenc      an output size, then two label values (NUL-separated) a
                   target may send: hostile UTF-8, backslashes, __other__
fuzz_expo_parse    a stop-after byte, then text 0.0.4 pages: emitd's own
                   rendering and the format's corners (escapes, timestamps)
Regression inputs (tests/fuzz/corpus/*/regress-*) are kept as they are.
"""
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CORPUS = os.path.join(HERE, "corpus")
BINARIES = ["{build}/demo-target", "/usr/lib/postgresql/15/bin/postgres", "/usr/bin/python3.11"]


def reset(target):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if not f.startswith("regress-"):
            os.unlink(os.path.join(d, f))
    return d


def put(d, name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def stapsdt_notes(path):
    """(descriptor bytes, provider, name, args) of each note of an ELF64 LE file."""
    with open(path, "rb") as f:
        elf = f.read()
    assert elf[:4] == b"\x7fELF" and elf[4] == 2 and elf[5] == 1, f"{path}: not ELF64 LE"
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3a)
    secs = [struct.unpack_from("<IIQQQQIIQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    stroff = secs[shstrndx][4]
    out = []
    for name_off, typ, _, _, off, size, *_ in secs:
        name = elf[stroff + name_off:elf.index(b"\0", stroff + name_off)]
        if name != b".note.stapsdt":
            continue
        p = off
        while p < off + size:
            namesz, descsz, ntype = struct.unpack_from("<III", elf, p)
            p += 12
            owner = elf[p:p + namesz]
            p += (namesz + 3) & ~3
            desc = elf[p:p + descsz]
            p += (descsz + 3) & ~3
            if ntype == 3 and owner == b"stapsdt\0":
                prov, nm, args = desc[24:].split(b"\0")[:3]
                out.append((desc, prov.decode(), nm.decode(), args))
    return out


def notes_and_args(build):
    dn, da = reset("fuzz_stapsdt_note"), reset("fuzz_usdt_args")
    seen = set()
    for b in BINARIES:
        path = b.format(build=build)
        tag = os.path.basename(path)
        for desc, prov, nm, args in stapsdt_notes(path):
            if args in seen:
                continue
            seen.add(args)
            put(dn, f"{tag}-{prov}-{nm}", desc)
            put(da, f"{tag}-{prov}-{nm}", desc[:8][::-1] + args)	# fuzz_in reads the pc big-endian
    # Forms the binaries above do not use.
    for name, args in [("rip", b"-4@NBuffers(%rip) 8@40+Stats(%rip) 4@iFar(%rip) 4@qTwice(%rip)"),
                       ("rip-numeric", b"8@16(%rip) -4@cStats-8(%rip) 8@bare"),
                       ("hex", b"8@0x10(%rsp) 8@$0x7f"),
                       ("r8-r15", b"-1@%r8b -2@%r9w -4@%r10d 8@%r15"), ("empty", b""),
                       ("size-long-min", b"-9223372036854775808@%rax")]:
        put(da, f"extra-{name}", struct.pack(">Q", 0x401000) + args)


ACCEPTS = {
    "prometheus-2": b"application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                    b"version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\0gzip",
    "prometheus-3": b"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
                    b"application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;"
                    b"escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1\0gzip",
    "prometheus-text-only": b"text/plain;version=0.0.4;q=1,*/*;q=0.1\0gzip",
    "curl": b"*/*\0deflate, gzip, br, zstd",
    "firefox": b"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
               b"\0gzip, deflate, br",
    "chrome": b"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
              b"image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7\0gzip, deflate, br, zstd",
    "python-client": b"application/openmetrics-text; version=1.0.0; charset=utf-8\0identity",
    "go-client": b"text/plain; version=0.0.4; charset=utf-8\0gzip;q=1.0, identity;q=0.5, *;q=0",
    "quoted-params": b'Text/Plain ; Version="0.0.4" ; q=0.800, application/*;q=0.801\0x-gzip;q=0.001',
    "absent-encoding": b"application/openmetrics-text",
    "wildcard-outranks-text": b"text/plain;version=0.0.4;q=0.5,*/*\0*;q=0.5, identity",
}


def negotiate():
    d = reset("fuzz_negotiate")
    for name, data in ACCEPTS.items():
        put(d, name, data)


def spec():
    d = reset("fuzz_spec")
    shutil.copy(os.path.join(ROOT, "spec", "demo.yml"), os.path.join(d, "demo.yml"))
    bad = os.path.join(ROOT, "tests", "spec_bad")
    for f in sorted(os.listdir(bad)):
        shutil.copy(os.path.join(bad, f), os.path.join(d, "bad-" + f))


# fuzz_expo.c's layout: see build_family() and build_series() there.
def expo_family(typ, name_pick, help_, unit_pick, labels, bounds, series):
    b = bytes([typ, name_pick])
    b += b"\1" + help_ + b"\0" if help_ is not None else b"\0"
    b += b"\1" + bytes([unit_pick]) if unit_pick is not None else b"\0"
    b += bytes([len(labels)]) + bytes(labels)
    if typ == 2:
        b += bytes([0, len(bounds)]) + b"".join(bytes([0, step]) for step in bounds)
    b += bytes([len(series)])
    for values, count, value, nb in series:
        b += b"".join(v + b"\0" for v in values)
        b += bytes([8]) + struct.pack(">Q", count) + struct.pack(">d", value)
        b += b"".join(struct.pack(">H", (count + i) & 0xffff) for i in range(nb))
        b += b"\1" + struct.pack(">q", count * 3)
    return b


def expo():
    d = reset("fuzz_expo")
    hostile = [b"GET /", b'a"b\\c\nd', b"\xff\xfe", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80",
               b"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", b"__other__", b"\xe2\x82"]
    fams = {
        "counter": expo_family(0, 0, b"Requests handled, by route.", None, [0],
                               [], [([v], i * 1000 + 7, 0.0, 0) for i, v in enumerate(hostile[:4])]),
        "gauge": expo_family(1, 2, b"Queue depth \\ with \"quotes\"\nand a newline", 0, [0, 2],
                             [], [([hostile[4], hostile[5]], 0, -0.0, 0), ([hostile[6], b""], 0, 1e300, 0)]),
        "histogram": expo_family(2, 1, b"Latency.", 1, [5], [1, 3, 5],
                                 [([hostile[7]], 5, 0.0, 4), ([hostile[8]], 9, 0.0, 4)]),
        "untyped": expo_family(3, 3, None, None, [], [], [([], 0, float("nan"), 0)]),
    }
    for name, f in fams.items():
        put(d, name, bytes([0, 1]) + f)
    put(d, "all", bytes([2, 1]) + fams["counter"] + fams["gauge"] + fams["histogram"])


def elf_file():
    d = reset("fuzz_elf_file")
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "tiny")
        subprocess.run(["gcc", "-Os", "-static", "-nostdlib", "-fno-asynchronous-unwind-tables",
                        "-Wl,-N", "-Wl,--build-id=none", "-Wl,--no-warn-rwx-segments", "-I", os.path.join(ROOT, "include"),
                        os.path.join(HERE, "tiny_usdt.c"), "-o", exe], check=True)
        subprocess.run(["strip", "--strip-unneeded", "--keep-symbol=tiny_work", "-R", ".comment",
                        exe], check=True)
        with open(exe, "rb") as f:
            image = f.read()
    assert len(image) < 4096, f"tiny_usdt is {len(image)} bytes"
    for prov, nm, sym in [("tiny", "request", "tiny_work"), ("tiny", "hot", "_start"),
                          ("tiny", "missing", "missing")]:
        put(d, f"tiny-{prov}-{nm}", f"{prov}\0{nm}\0{sym}\0".encode() + image)


LABEL_PAIRS = {
    "other": (b"__other__", b"\\__other__"),
    "backslash-x": (b"\xff", b"\\xff"),
    "ill-formed": (b"\xff\xfe", b"\xed\xa0\x80\xc0\xaf\xf4\x90\x80\x80\xe2\x82"),
    "utf8": (b"caf\xc3\xa9 \xe2\x82\xac", b"\xf0\x9f\x98\x80 \"q\" \n"),
    "route": (b"/api/v1/query", b"/api/v1/query "),
}


def labelenc():
    d = reset("fuzz_labelenc")
    for name, (a, b) in LABEL_PAIRS.items():
        put(d, name, bytes([200]) + a + b"\0" + b)
    put(d, "small-buffer", bytes([3]) + b"\xff\xff\0abc")


PAGES = {
    "emitd": b"""# HELP demo_requests_total Requests handled, by route.
# TYPE demo_requests_total counter
demo_requests_total{route="/a\\\\b\\"c\\nd"} 1200
demo_requests_total{route="\\\\xff"} 3
# HELP demo_request_latency_us Request latency in microseconds.
# TYPE demo_request_latency_us histogram
demo_request_latency_us_bucket{le="1.0"} 0
demo_request_latency_us_bucket{le="+Inf"} 7
demo_request_latency_us_sum 812
demo_request_latency_us_count 7
# TYPE demo_queue_depth gauge
demo_queue_depth -0
emitd_scrape_duration_seconds 1.5e-05
""",
    "corners": b"""
  # a comment
metric_without_labels +Inf
m{} NaN 1700000000000
m{a="1",b="2",} -Inf -12
m { a = "x" }\t3.25e+300\t
m{a="\\n\\\\\\""} 0x1p-3
""",
}


def expo_parse():
    d = reset("fuzz_expo_parse")
    for name, page in PAGES.items():
        put(d, name, b"\0" + page)
    put(d, "stop-after-2", b"\2" + PAGES["emitd"])


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    os.chdir(ROOT)
    notes_and_args(build)
    negotiate()
    spec()
    expo()
    elf_file()
    labelenc()
    expo_parse()


if __name__ == "__main__":
    main()
