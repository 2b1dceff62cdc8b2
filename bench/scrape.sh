#!/usr/bin/env bash
# Scrapes side by side: emitd against a client_golang peer (bench/peer,
# Debian's client_golang built in GOPATH mode) serving the same series, for
# plain text, `Accept-Encoding: gzip` and OpenMetrics, at 10k and 100k series,
# in one run. For each: p50, p99 and req/s under wrk -t2 -c8 -d5s, the
# response bytes, the RSS of each process, and the emitd/peer ratios.
# Results: build/bench/scrape.md. Needs root (emitd loads BPF).
#
#   BENCH_SIZES="10000 100000"  series counts
#   BENCH_WRK_D=5s              wrk duration
set -euo pipefail
cd "$(dirname "$0")/.."
EPORT=${BENCH_PORT:-19482}
PPORT=${BENCH_PEER_PORT:-19483}
PIN=/sys/fs/bpf/emitd-bench-scrape
SIZES=${BENCH_SIZES:-10000 100000}
DUR=${BENCH_WRK_D:-5s}
B=build/bench
out=$B/scrape.md
[ "$(id -u)" = 0 ] || { echo "bench/scrape.sh: needs root" >&2; exit 1; }
for f in build/emitd build/demo-target $B/peer; do
	[ -x $f ] || { echo "bench/scrape.sh: $f missing (make all $B/peer)" >&2; exit 1; }
done
mkdir -p "$B"

agent_pid= peer_pid=
cleanup() {
	[ -n "$agent_pid" ] && { kill -INT "$agent_pid" 2>/dev/null; wait "$agent_pid" || true; }
	[ -n "$peer_pid" ] && { kill "$peer_pid" 2>/dev/null; wait "$peer_pid" || true; }
	rm -rf "$PIN"
}
trap cleanup EXIT

wait_http() {	# PORT
	for _ in $(seq 200); do curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return; sleep 0.05; done
	echo "nothing ready on port $1" >&2; exit 1
}
metric() { curl -s http://127.0.0.1:$EPORT/metrics | awk -v n="$1" '$1 == n { print $2 }'; }
wait_series() {	# N: until emitd's store holds N series
	for _ in $(seq 600); do
		[ "$(metric 'emitd_cardinality_series{metric="bench_requests_total"}')" = "$1" ] && return
		sleep 0.1
	done
	echo "never saw $1 series" >&2; exit 1
}
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' /proc/$1/status; }
hwm_mib() { awk '/VmHWM/ {printf "%.1f", $2 / 1024}' /proc/$1/status; }

# The request headers of each format; X-Bench is a no-op for plain text.
# OpenMetrics: Prometheus's own Accept header, because client_golang 1.14
# (prometheus/common 0.39) negotiates OpenMetrics 0.0.1 only and would
# answer `version=1.0.0` alone with text; emitd picks 1.0.0 from it.
OM_ACCEPT='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'
hdr() {
	case $1 in
	plain) echo "X-Bench: plain" ;;
	gzip) echo "Accept-Encoding: gzip" ;;
	om) echo "Accept: $OM_ACCEPT" ;;
	esac
}
fmt_name() {
	case $1 in
	plain) echo "plain text" ;;
	gzip) echo '`Accept-Encoding: gzip`' ;;
	om) echo "OpenMetrics" ;;
	esac
}
bytes() { curl -s -H "$(hdr "$2")" -o /dev/null -w '%{size_download}' "http://127.0.0.1:$1/metrics"; }
# Both servers must answer each format as asked, or the row compares nothing.
check_format() {	# PORT FORMAT
	local h
	h=$(curl -s -H "$(hdr "$2")" -D - -o /dev/null "http://127.0.0.1:$1/metrics" | tr -d '\r')
	case $2 in
	plain) grep -qi '^content-type: text/plain; version=0.0.4' <<< "$h" &&
		! grep -qi '^content-encoding' <<< "$h" ;;
	gzip) grep -qi '^content-encoding: gzip' <<< "$h" ;;
	om) grep -qi '^content-type: application/openmetrics-text' <<< "$h" ;;
	esac || { echo "bench/scrape.sh: port $1 does not answer $2:" >&2; echo "$h" >&2; exit 1; }
}

# wrk's latencies in ms ("404.00us", "1.64ms", "2.01s", "1.00m").
to_ms() {
	awk '{ v = $1 + 0; u = $1; sub(/^[0-9.]+/, "", u);
	       if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000;
	       printf "%.3f", v }'
}
# -> "p50_ms p99_ms req/s requests"; the timeout is well above any latency
# seen so that no slow reply is dropped from the distribution.
# A run with fewer than MIN_REPLIES replies (client_golang at 100k series
# answers in seconds) is run again for LONG, so that its p50 and p99 stand on
# that many replies at least; the table says which servers needed it.
MIN_REPLIES=${BENCH_MIN_REPLIES:-30}
LONG=${BENCH_WRK_LONG:-40s}
scrape() {	# PORT FORMAT TAG
	local f=$B/wrk-$3.txt
	wrk -t2 -c8 -d"$DUR" --timeout 60s --latency -H "$(hdr "$2")" \
		"http://127.0.0.1:$1/metrics" > "$f"
	if [ "$(awk '/requests in/ {print $1}' "$f")" -lt "$MIN_REPLIES" ]; then
		echo "$3" >> $B/scrape-long.txt
		wrk -t2 -c8 -d"$LONG" --timeout 60s --latency -H "$(hdr "$2")" \
			"http://127.0.0.1:$1/metrics" > "$f"
	fi
	local p50 p99 rps nreq err
	nreq=$(awk '/requests in/ {print $1}' "$f")
	p50=$(awk '$1 == "50%" {print $2}' "$f" | to_ms)
	p99=$(awk '$1 == "99%" {print $2}' "$f" | to_ms)
	rps=$(awk '/Requests\/sec/ {print $2}' "$f")
	err=$(awk '/Socket errors|Non-2xx/ {s = s $0 "; "} END {print s ? s : "-"}' "$f")
	echo "$p50 $p99 $rps $nreq"
	[ "$err" = "-" ] || echo "wrk $3: $err" >&2
}

# BENCH_REPORT_ONLY=1: write the table again from the last run's results.
results=$B/scrape-results.txt
if [ -z "${BENCH_REPORT_ONLY:-}" ]; then
: > "$results"
: > $B/scrape-long.txt
echo "load $(cut -d' ' -f1-3 /proc/loadavg)" > $B/scrape-load.txt
for n in $SIZES; do
	rm -rf "$PIN"
	build/emitd run --spec bench/series.yml --listen 127.0.0.1:$EPORT --pin-root "$PIN" \
		--interval-ms 1000 2> $B/scrape-agent.log &
	agent_pid=$!
	wait_http $EPORT
	build/demo-target --events "$n" --routes "$n" --rate 0 > /dev/null
	wait_series "$n"
	$B/peer -listen 127.0.0.1:$PPORT -series "$n" 2> $B/scrape-peer.log &
	peer_pid=$!
	wait_http $PPORT
	for f in plain gzip om; do
		# one scrape first: emitd renders OpenMetrics from the next drain on
		bytes $EPORT $f > /dev/null; sleep 1.1
		check_format $EPORT $f; check_format $PPORT $f
		eb=$(bytes $EPORT $f); pb=$(bytes $PPORT $f)
		read -r e50 e99 erps ereq < <(scrape $EPORT $f emitd-$n-$f)
		read -r p50 p99 prps preq < <(scrape $PPORT $f client_golang-$n-$f)
		echo "$n $f $eb $pb $e50 $e99 $erps $p50 $p99 $prps $ereq $preq" >> "$results"
	done
	echo "rss $n $(rss_mib $agent_pid) $(hwm_mib $agent_pid) $(rss_mib $peer_pid) $(hwm_mib $peer_pid)" >> "$results"
	kill -INT "$agent_pid"; wait "$agent_pid" || true; agent_pid=
	kill "$peer_pid"; wait "$peer_pid" || true; peer_pid=
	rm -rf "$PIN"
done
echo "load $(cut -d' ' -f1-3 /proc/loadavg)" >> $B/scrape-load.txt
fi
load0=$(awk 'NR == 1 {print $2, $3, $4}' $B/scrape-load.txt)
load1=$(awk 'NR == 2 {print $2, $3, $4}' $B/scrape-load.txt)

{
echo "### Scrapes: emitd against client_golang $(dpkg-query -W -f '${Version}' golang-github-prometheus-client-golang-dev 2>/dev/null || echo '?') (wrk -t2 -c8 -d$DUR --latency)"
echo
echo "| series | format | bytes emitd | bytes client_golang | emitd p50 (ms) | emitd p99 (ms) | emitd req/s | client_golang p50 (ms) | client_golang p99 (ms) | client_golang req/s | p99 ratio emitd/cg | req/s ratio emitd/cg |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
while read -r n f eb pb e50 e99 erps p50 p99 prps _; do
	[ "$n" = rss ] && continue
	awk -v n="$n" -v f="$(fmt_name "$f")" -v eb="$eb" -v pb="$pb" -v e50="$e50" -v e99="$e99" \
	    -v erps="$erps" -v p50="$p50" -v p99="$p99" -v prps="$prps" 'BEGIN {
		printf "| %d | %s | %d | %d | %.2f | %.2f | %.0f | %.1f | %.1f | %.1f | %.4f | %.0fx |\n",
			n, f, eb, pb, e50, e99, erps, p50, p99, prps, (p99 > 0) ? e99 / p99 : -1,
			(prps > 0) ? erps / prps : -1 }'
done < "$results"
echo
while read -r tag; do
	echo "$tag: fewer than $MIN_REPLIES replies in $DUR, measured again over $LONG."
done < $B/scrape-long.txt
echo
awk '$1 != "rss" && $12 < 100 { printf "client_golang at %d series, %s: %d replies, so its p99 is about its slowest.\n", $1, $2, $12 }' "$results"
echo
echo "| series | emitd RSS (MiB) | emitd peak RSS (MiB) | client_golang RSS (MiB) | client_golang peak RSS (MiB) | RSS ratio emitd/cg |"
echo "|---|---|---|---|---|---|"
awk '$1 == "rss" { printf "| %d | %s | %s | %s | %s | %.2f |\n", $2, $3, $4, $5, $6, $3 / $5 }' "$results"
echo
echo "Targets (each size): p99 ratio <= 0.02 for plain and gzip; emitd gzip p99 <= 1.5x its plain p99."
echo
awk '$1 != "rss" { p99e[$1 " " $2] = $6; p99p[$1 " " $2] = $9; sizes[$1] = 1 }
END {
	for (n in sizes) {
		for (i = 1; i <= 2; i++) {
			f = (i == 1) ? "plain" : "gzip"; r = p99p[n " " f] > 0 ? p99e[n " " f] / p99p[n " " f] : 1e9
			printf "- %d series, %s: p99 ratio %.4f: %s\n", n, f, r, r <= 0.02 ? "met" : "NOT MET"
		}
		g = p99e[n " gzip"] / p99e[n " plain"]
		printf "- %d series: emitd gzip p99 / plain p99 = %.2f: %s\n", n, g, g <= 1.5 ? "met" : "NOT MET"
	}
}' "$results" | sort -n -k2
echo
echo "$(uname -r), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs;" \
     "load average $load0 before, $load1 after; command: make bench (bench/scrape.sh)"
} > "$out.tmp"
mv "$out.tmp" "$out"
cat "$out"
