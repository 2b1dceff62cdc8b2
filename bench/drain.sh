#!/usr/bin/env bash
# Drain cost against series count (batch and per-key reads), agent RSS,
# scrape latency under 8 concurrent scrapers (wrk) with and without drains
# running, and the event rate sustained with accounting that closes.
# Results: build/bench/drain.md. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${BENCH_PORT:-19478}
PIN=/sys/fs/bpf/emitd-bench-drain
B=build/bench
out=$B/drain.md
mkdir -p "$B"

agent_pid=
start_agent() {	# EXTRA_ARGS...
	rm -rf "$PIN"
	build/emitd run --spec bench/series.yml --listen 127.0.0.1:$PORT --pin-root "$PIN" "$@" \
		2> $B/drain-agent.log &
	agent_pid=$!
	for _ in $(seq 200); do curl -sf http://127.0.0.1:$PORT/healthz >/dev/null && return; sleep 0.05; done
	echo "agent not ready" >&2; cat $B/drain-agent.log >&2; exit 1
}
stop_agent() { kill -INT "$agent_pid"; wait "$agent_pid" || true; rm -rf "$PIN"; }
metric() { curl -s http://127.0.0.1:$PORT/metrics | awk -v n="$1" '$1 == n { print $2 }'; }
wait_series() {	# N: until the store holds N series
	for _ in $(seq 600); do
		[ "$(metric 'emitd_cardinality_series{metric="bench_requests_total"}')" = "$1" ] && return
		sleep 0.1
	done
	echo "never saw $1 series" >&2; exit 1
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
drain_ms() {	# median of 7 drains' durations, in ms
	for _ in $(seq 7); do sleep 1.05; metric emitd_drain_last_duration_seconds; done |
		median | awk '{printf "%.2f", $1 * 1000}'
}
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' /proc/$agent_pid/status; }

{
echo "### Drain cost and agent memory against series count"
echo
echo "| series | batch drain (ms, median of 7) | per-key drain (ms) | agent RSS (MiB) |"
echo "|---|---|---|---|"
for n in 1000 10000 100000; do
	start_agent --interval-ms 1000
	build/demo-target --events "$n" --routes "$n" --rate 0 > /dev/null
	wait_series "$n"
	batch=$(drain_ms); rss=$(rss_mib)
	stop_agent
	start_agent --interval-ms 1000 --drain-per-key
	build/demo-target --events "$n" --routes "$n" --rate 0 > /dev/null
	wait_series "$n"
	perkey=$(drain_ms)
	stop_agent
	echo "| $n | $batch | $perkey | $rss |"
done
echo
echo "### Scrape latency, 8 concurrent scrapers, 10k series (wrk -t2 -c8 -d5s)"
echo
echo "| drains | p50 (ms) | p99 (ms) | requests/s |"
echo "|---|---|---|---|"
for mode in idle busy; do
	if [ $mode = idle ]; then start_agent --interval-ms 1000; else start_agent --interval-ms 10; fi
	build/demo-target --events 10000 --routes 10000 --rate 0 > /dev/null
	wait_series 10000
	if [ $mode = busy ]; then build/demo-target --rate 20000 --routes 10000 > /dev/null & load=$!; fi
	wrk -t2 -c8 -d5s --latency http://127.0.0.1:$PORT/metrics > $B/wrk-$mode.txt
	[ $mode = busy ] && { kill $load; wait $load || true; }
	p50=$(awk '$1 == "50%" {print $2}' $B/wrk-$mode.txt)
	p99=$(awk '$1 == "99%" {print $2}' $B/wrk-$mode.txt)
	rps=$(awk '/Requests\/sec/ {print $2}' $B/wrk-$mode.txt)
	label=$([ $mode = idle ] && echo "every 1 s, no load" || echo "every 10 ms, target at 20k it/s")
	echo "| $label | $p50 | $p99 | $rps |"
	stop_agent
done
echo
echo "### Sustained event rate"
echo
start_agent
t0=$(date +%s.%N)
build/demo-target --events 200000 --routes 1000 --rate 0 > /dev/null
t1=$(date +%s.%N)
sleep 1.5
hits=$(metric emitd_events_total)
counted=$(curl -s http://127.0.0.1:$PORT/metrics | awk '/^bench_requests_total/ {s += $2} END {print s}')
drops=$(curl -s http://127.0.0.1:$PORT/metrics | awk '/^emitd_map_full_drops_total|^emitd_drain_shed_total|^emitd_probe_read_errors_total/ {s += $2} END {print s}')
stop_agent
awk -v h="$hits" -v c="$counted" -v d="$drops" -v a="$t0" -v b="$t1" 'BEGIN {
	printf "200000 handle_request calls in %.2f s (%.0f events/s through the uprobe, an emulated-nop site);\n", b - a, 200000 / (b - a)
	printf "counted %d, dropped or shed %d: %s\n", c, d, (c + d == 200000) ? "accounting closes" : "ACCOUNTING DOES NOT CLOSE" }'
echo
echo "kernel $(uname -r), $(nproc) CPUs; command: make bench (bench/drain.sh)"
} > "$out.tmp"
mv "$out.tmp" "$out"
cat "$out"
