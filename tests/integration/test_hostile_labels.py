"""Hostile label values cannot make two samples share a series (issue 10, item 2).

A probed process chooses every byte of its string labels. build/tests/label_target
(tests/targets/label_target.c) sends, through the USDT probe label:hit, VALUES
below: distinct ill-formed UTF-8 byte strings that a lossy rendering would all
show as U+FFFD, the literal U+FFFD, text that looks like an escape, backslashes,
the literal "__other__" (the spelling of the cardinality guard's overflow
series), valid UTF-8 of every length, quotes and line feeds; then enough plain
values to exceed the metric's budget, so real series fold into __other__.

The agent encodes label bytes injectively (user/lib/labelenc.h): valid UTF-8 is
kept, a backslash doubled, each byte of an ill-formed sequence becomes `\\xHH`
and a target's own "__other__" becomes `\\__other__`. encode() below is the
same rule written independently (Python's UTF-8 decoder finds the ill-formed
bytes).

Asserted on the agent's text and OpenMetrics pages and in a real Prometheus
(Debian's `prometheus`) that scrapes the agent: no two samples share name and
labels, python3-prometheus-client's OpenMetrics parser accepts the page, and
the sums equal the emitted count exactly.
"""
import codecs
import json
import os
import re
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import ROOT, Agent, free_port, require_environment, wait_until

TARGET = os.path.join(ROOT, "build", "tests", "label_target")
SPEC = os.path.join(ROOT, "tests", "integration", "specs", "labels.yml")
PROMETHEUS = "/usr/bin/prometheus"
METRIC = "hostile_hits_total"
BUDGET = 64                     # specs/labels.yml: __other__ and 63 admitted series
ADMITTED = BUDGET - 1
EVENTS_PER_VALUE = 3
OTHER = "__other__"

# Ill-formed UTF-8, each a distinct byte string; a lossy rendering shows the
# first ten as one U+FFFD, the next three as "a" U+FFFD, the last five as two.
ILL_FORMED = [
    b"\x80", b"\xff", b"\xc0", b"\xc1", b"\xf5", b"\xfe",
    b"\xc3",                        # truncated 2-byte sequence
    b"\xe2\x82",                    # truncated 3-byte sequence: one maximal subpart
    b"\xf0\x9f\x98",                # truncated 4-byte sequence
    "\ufffd".encode(),              # the literal U+FFFD (valid UTF-8)
    b"a\x80", b"a\xff", b"a\xe2\x82",
    b"\x80\x80",
    b"\xe0\x80",                    # overlong lead, then a lone continuation byte
    b"\xc0\xaf",                    # overlong '/'
    "\ufffd\ufffd".encode(),
    b"\x80\xef\xbf\xbd",
    b"\xed\xa0\x80",                # a surrogate
    b"\xf4\x90\x80\x80",            # above U+10FFFF
    b"ok\xffok\xfe",
]
# What the encoding itself could be confused with.
LOOKALIKES = [
    b"\\x80", b"\\xff", b"\\\\x80", b"\\", b"\\\\", b"a\\b", b"\\x",
    b"__other__", b"\\__other__", b"\\_", b"__other__\x80", b"__other_",
    b"__Other__", b"x__other__",
]
VALID = [
    "h\u00e9llo".encode(), "\u65e5\u672c\u8a9e".encode(), "\U0001f600".encode(),
    "\u07ff".encode(), "\uffff".encode(), "\U0010ffff".encode(), "\u2028".encode(),
    b'a"b', b"a\nb", b"\t", b" ", b"",
]
HOSTILE = ILL_FORMED + LOOKALIKES + VALID
FILLERS = [f"/fill/{i}".encode() for i in range(100 - len(HOSTILE))]
VALUES = HOSTILE + FILLERS      # sent in this order: the first ADMITTED are admitted
N = EVENTS_PER_VALUE * len(VALUES)


def _escape_ill_formed(exc):
    return "".join(f"\\x{b:02x}" for b in exc.object[exc.start:exc.end]), exc.end


codecs.register_error("emitd-label-test", _escape_ill_formed)


def encode(raw):
    """The label value the agent shows for the bytes @raw (labelenc.h's rule)."""
    if raw == OTHER.encode():
        return "\\" + OTHER
    return raw.replace(b"\\", b"\\\\").decode("utf-8", "emitd-label-test")


def test_the_values_exercise_what_they_claim():
    """The input itself: distinct, short enough not to be cut, no NUL, and the
    lossy rendering (U+FFFD per maximal subpart) really collides."""
    assert len(set(VALUES)) == len(VALUES) == 100
    assert all(len(v) <= 31 and b"\0" not in v for v in VALUES)
    assert len(HOSTILE) < ADMITTED < len(VALUES)
    lossy = [v.decode("utf-8", "replace") for v in ILL_FORMED]
    assert lossy.count("\ufffd") == 10 and lossy.count("\ufffd\ufffd") == 5
    assert len({encode(v) for v in VALUES} | {OTHER}) == len(VALUES) + 1


# --- strict readers of the agent's pages ------------------------------------

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


def _unescape(v):
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def samples_of(text, name):
    """Every sample line of @name as (label tuple, value), duplicates kept."""
    out = []
    for line in text.split("\n"):
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        m = _SAMPLE.match(line)
        assert m, f"unparseable sample line: {line!r}"
        labels, rest = [], m.group(2) or ""
        while rest:
            lm = _LABEL.match(rest)
            assert lm, f"bad label set in {line!r}"
            labels.append((lm.group(1), _unescape(lm.group(2))))
            rest = rest[lm.end():]
        out.append((tuple(sorted(labels)), float(m.group(3))))
    return out


def duplicates(samples):
    seen, dup = set(), []
    for labels, _ in samples:
        if labels in seen:
            dup.append(labels)
        seen.add(labels)
    return dup


def expected_page():
    """value label -> count: the admitted values, then __other__ for the rest."""
    want = {encode(v): EVENTS_PER_VALUE for v in VALUES[:ADMITTED]}
    want[OTHER] = EVENTS_PER_VALUE * (len(VALUES) - ADMITTED)
    return want


# --- the agent, the target and Prometheus, once for the module ----------------

def get(url, headers=None, timeout=5):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read().decode("utf-8")      # strict: the page must be UTF-8


class Prometheus:
    """Debian's prometheus on its own port and TSDB, scraping one agent each second."""

    def __init__(self, tmp, target):
        self.port = free_port()
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global: { scrape_interval: 1s, scrape_timeout: 1s }\n"
                    "scrape_configs:\n"
                    f"  - job_name: emitd\n"
                    f"    static_configs: [ {{ targets: ['{target}'] }} ]\n")
        self.log = open(os.path.join(tmp, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={tmp}/tsdb",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def vector(self, expr):
        """An instant query's [(labels, value)], None while Prometheus is not up."""
        try:
            doc = json.loads(get(self.url("/api/v1/query?" +
                                          urllib.parse.urlencode({"query": expr}))))
        except (urllib.error.URLError, ConnectionError, OSError):
            return None
        assert doc["status"] == "success", doc
        return [(r["metric"], float(r["value"][1])) for r in doc["data"]["result"]]

    def query(self, expr):
        """The value of an instant query with one result, None if it has none."""
        res = self.vector(expr)
        assert res is None or len(res) <= 1, f"{expr}: {res}"
        return res[0][1] if res else None

    def self_metric(self, name):
        text = get(self.url("/metrics"))
        m = re.search(r"^%s(?:\{[^}]*\})? (\S+)$" % re.escape(name), text, re.M)
        assert m, f"Prometheus exports no {name}"
        return float(m.group(1))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    require_environment()
    for f in (TARGET, PROMETHEUS):
        if not os.access(f, os.X_OK):
            pytest.fail(f"{f} is missing (make test-integration builds the target; "
                        "Debian's prometheus is in DEB_PKGS)")
    tmp = str(tmp_path_factory.mktemp("hostile-labels"))
    agent = Agent(SPEC, tmp)
    prom = None
    try:
        agent.wait_ready()
        values = os.path.join(tmp, "values.txt")
        with open(values, "w") as f:
            for v in VALUES:
                f.write(f"{EVENTS_PER_VALUE} {v.hex() or '-'}\n")
        p = subprocess.run([TARGET, values], cwd=ROOT, capture_output=True, text=True,
                           timeout=30)
        assert p.returncode == 0, f"label_target failed: {p.stderr}"
        assert p.stdout.split() == ["events", str(N), "values", str(len(VALUES))]

        def drained():
            text = get(agent.url("/metrics"))
            return text if sum(v for _, v in samples_of(text, METRIC)) == N else None
        assert wait_until(drained, timeout=10), f"the agent never showed {N} {METRIC}"
        text = get(agent.url("/metrics"))
        om = get(agent.url("/metrics"),
                 {"Accept": "application/openmetrics-text;version=1.0.0"})
        prom = Prometheus(tmp, agent.listen)

        def scraped():        # three scrapes at least, the last one of the full page
            n = prom.query('count_over_time(up{job="emitd"}[1m])')
            return n is not None and n >= 3 and prom.query(f"count({METRIC})") is not None
        assert wait_until(scraped, timeout=30, interval=0.5), \
            f"Prometheus never scraped the agent 3 times:\n{open(prom.log.name).read()}"
        stored = {
            "up": prom.query('up{job="emitd"}'),
            "sum": prom.query(f"sum({METRIC})"),
            "count": prom.query(f"count({METRIC})"),
            "dup_ts": prom.self_metric("prometheus_target_scrapes_sample_duplicate_timestamp_total"),
            # an empty label value is no label to Prometheus
            "series": {m.get("value", ""): v for m, v in prom.vector(METRIC)},
        }
        print(f"\nemitted {N} events over {len(VALUES)} values; Prometheus stored "
              f"sum={stored['sum']} count={stored['count']} up={stored['up']} "
              f"duplicate-timestamp samples={stored['dup_ts']}")
        yield {"text": text, "om": om, "prom": stored}
    finally:
        if prom:
            prom.stop()
        agent.stop()


def test_text_page_has_no_duplicate_series(run):
    s = samples_of(run["text"], METRIC)
    assert duplicates(s) == []
    assert len(s) == BUDGET


def test_openmetrics_page_has_no_duplicate_series(run):
    s = samples_of(run["om"], METRIC)
    assert duplicates(s) == []
    assert len(s) == BUDGET


def test_every_value_shows_its_own_encoding(run):
    for page in ("text", "om"):
        got = {dict(l)["value"]: v for l, v in samples_of(run[page], METRIC)}
        assert got == expected_page(), page


def test_openmetrics_parser_accepts_the_page_and_sums_exactly(run):
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    fams = {f.name: f for f in text_string_to_metric_families(run["om"])}
    hits = fams[METRIC[:-len("_total")]]
    assert hits.type == "counter"
    assert len(hits.samples) == BUDGET
    assert sum(s.value for s in hits.samples) == N
    assert {s.labels["value"]: s.value for s in hits.samples} == expected_page()


def test_text_parser_reads_distinct_series_and_sums_exactly(run):
    from prometheus_client.parser import text_string_to_metric_families

    fams = {f.name: f for f in text_string_to_metric_families(run["text"])}
    hits = fams[METRIC[:-len("_total")]]
    assert sum(s.value for s in hits.samples) == N
    assert len(hits.samples) == BUDGET
    assert {s.labels["value"]: s.value for s in hits.samples} == expected_page()


def test_prometheus_stores_every_event(run):
    """Prometheus 2.42 drops a repeated series of a scrape without a word (up
    stays 1, its rejection counters stay 0): the sums show it."""
    p = run["prom"]
    assert p["up"] == 1
    assert p["dup_ts"] == 0, "Prometheus rejected samples with a duplicate series"
    assert p["count"] == len(samples_of(run["text"], METRIC)) == BUDGET
    assert p["sum"] == N
    assert p["series"] == expected_page()     # the label values as the agent wrote them
