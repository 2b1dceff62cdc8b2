#!/usr/bin/env bash
# Drain cost against series count (batch and per-key reads, and the
# kernel's share: the same batch reads alone), agent RSS up to 1M series,
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

SIZES=${BENCH_DRAIN_SIZES:-1000 10000 100000 1000000}
[ "$(id -u)" = 0 ] || { echo "bench/drain.sh: needs root" >&2; exit 1; }

agent_pid=
spec=bench/series.yml
start_agent() {	# EXTRA_ARGS...
	rm -rf "$PIN"
	build/emitd run --spec "$spec" --listen 127.0.0.1:$PORT --pin-root "$PIN" "$@" \
		2> $B/drain-agent.log &
	agent_pid=$!
	for _ in $(seq 200); do curl -sf http://127.0.0.1:$PORT/healthz >/dev/null && return; sleep 0.05; done
	echo "agent not ready" >&2; cat $B/drain-agent.log >&2; exit 1
}
stop_agent() { kill -INT "$agent_pid"; wait "$agent_pid" || true; agent_pid=; rm -rf "$PIN"; }
trap '[ -n "$agent_pid" ] && stop_agent' EXIT
metric() { curl -s http://127.0.0.1:$PORT/metrics | awk -v n="$1" '$1 == n { print $2 }'; }
wait_series() {	# N: until the store holds N series
	for _ in $(seq 600); do
		# numerically: a gauge of 1000000 is written 1e+06
		metric 'emitd_cardinality_series{metric="bench_requests_total"}' |
			awk -v n="$1" '$1 + 0 == n { ok = 1 } END { exit !ok }' && return
		sleep 0.1
	done
	echo "never saw $1 series" >&2; exit 1
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
drain_ms() {	# median of 7 drains' durations, in ms; the agent's RSS at each in $B/rss.txt
	: > $B/rss.txt
	for _ in $(seq 7); do
		sleep 1.05
		metric emitd_drain_last_duration_seconds
		awk '/VmRSS/ {printf "%.1f\n", $2 / 1024}' /proc/$agent_pid/status >> $B/rss.txt
	done | median | awk '{printf "%.2f", $1 * 1000}'
}
# The RSS moves with each cycle (a rendering is made while the last one is
# served): the median and the largest of the samples drain_ms() took.
rss_mib() { median < $B/rss.txt; }
rss_max_mib() { sort -g $B/rss.txt | tail -1; }
hwm_mib() { awk '/VmHWM/ {printf "%.1f", $2 / 1024}' /proc/$agent_pid/status; }
map_mib() { bpftool map show pinned "$PIN/counters" | awk '/memlock/ { sub(/B$/, "", $NF); printf "%.0f", $NF / 1048576 }'; }

{
echo "### Drain cost and agent memory against series count"
echo
echo "| series | spec (map entries, kernel memory) | batch drain (ms, median of 7) | kernel batch reads alone (ms, median of 7) | per-key drain (ms) | agent RSS (MiB, median of 7) | largest of the 7 | agent peak RSS (VmHWM, MiB) |"
echo "|---|---|---|---|---|---|---|---|"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for n in $SIZES; do
	# 1M series need the larger spec; the others keep the one of earlier runs.
	# A burst of 1M new series at full speed is what shedding is for (the
	# default sheds new series after 3 critical cycles, counted): the table
	# measures the drain of 1M series, so the burst is not shed.
	extra=()
	if [ "$n" -gt 100000 ]; then
		spec=bench/series-1m.yml
		extra=(--drain-critical-cycles 1000)
	else
		spec=bench/series.yml
	fi
	start_agent --interval-ms 1000 "${extra[@]}"
	build/demo-target --events "$n" --routes "$n" --rate 0 > /dev/null
	wait_series "$n"
	batch=$(drain_ms); rss=$(rss_mib); rmax=$(rss_max_mib); hwm=$(hwm_mib)
	entries=$(bpftool map show pinned "$PIN/counters" | awk '/max_entries/ { for (i = 1; i < NF; i++) if ($i == "max_entries") print $(i + 1) }')
	mem=$(map_mib)
	kill -INT "$agent_pid"; wait "$agent_pid" || true; agent_pid=
	# the pins outlive the agent: the same map, read with nothing else running
	read -r _ kern < <(build/bench/map_read "$PIN/counters" 7)
	rm -rf "$PIN"
	start_agent --interval-ms 1000 --drain-per-key "${extra[@]}"
	build/demo-target --events "$n" --routes "$n" --rate 0 > /dev/null
	wait_series "$n"
	perkey=$(drain_ms)
	stop_agent
	echo "| $n | $spec ($entries, $mem MiB) | $batch | $kern | $perkey | $rss | $rmax | $hwm |"
done
spec=bench/series.yml
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
echo "$(uname -r), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs;" \
     "load average $load0 before, $(cut -d' ' -f1-3 /proc/loadavg) after; command: make bench (bench/drain.sh)"
} > "$out.tmp"
mv "$out.tmp" "$out"
cat "$out"
