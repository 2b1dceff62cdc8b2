#!/usr/bin/env bash
# Per-event cost of a probe hit, side by side on the same sites:
#   floor   : emitd's empty BPF program (bench/attach_empty)
#   emitd   : emitd's generic handler, one histogram (count + buckets + sum)
#   bpftrace: the same count + histogram written in bpftrace
# on a USDT 5-byte-nop site (optimized), a function entry that is a 1-byte
# nop and one that is `push %rbp` (both emulated), and an ordinary first
# instruction (single-stepped).
# cost = (ns/iteration with the probe) - (ns/iteration with nothing attached)
set -euo pipefail
cd "$(dirname "$0")/.."

B=build/bench
T=$B/probe_target
PORT=${BENCH_PORT:-19477}
RUNS=${BENCH_RUNS:-5}
out=$B/probe-cost.md
[ "$(id -u)" = 0 ] || { echo "bench/run.sh: needs root" >&2; exit 1; }
mkdir -p "$B"

# Each function site must start with the instruction its row is named for.
check_site() {	# FUNCTION BYTES (objdump's hex of the first instruction)
	local got
	got=$(objdump -d --disassemble="$1" "$T" | awk -F'\t' '/^ +[0-9a-f]+:/ {print $2; exit}' |
	      sed 's/ *$//')
	[ "$got" = "$2" ] || { echo "bench/run.sh: $1 starts with '$got', not '$2'" >&2; exit 1; }
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

measure() {	# SITE ITERS -> median ns/iteration over $RUNS runs
	for _ in $(seq "$RUNS"); do "$T" "$1" "$2"; done | median
}

wait_http() {
	for _ in $(seq 1200); do
		curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && return 0
		sleep 0.05
	done
	echo "emitd did not become ready" >&2; return 1
}

# Until FILE holds PATTERN (at most 60 s: loading BPF is slow on a loaded
# machine); a measurement without the probe attached would be a lie.
wait_log() {	# FILE PATTERN WHAT
	for _ in $(seq 1200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
	echo "bench/run.sh: $3 never attached:" >&2; cat "$1" >&2; return 1
}

# attach_empty and emitd get SIGTERM, not SIGINT: a background job of a script starts with SIGINT
# ignored, so a SIGINT sent before the program installs its handler is lost.
with_floor() {	# SITE ITERS ATTACH_ARGS...
	local site=$1 iters=$2; shift 2
	$B/attach_empty "$T" "$@" > $B/attach.log &
	local pid=$!
	wait_log $B/attach.log attached "the empty program" || { kill -TERM $pid; exit 1; }
	measure "$site" "$iters"
	kill -TERM $pid; wait $pid
}

with_emitd() {	# SITE ITERS SPEC
	build/emitd run --spec "$3" --listen 127.0.0.1:$PORT --pin-root /sys/fs/bpf/emitd-bench \
		--interval-ms 1000 ${BENCH_AGENT_ARGS:-} 2> $B/emitd.log &
	local pid=$!
	wait_http
	measure "$1" "$2"
	kill -TERM $pid; wait $pid
	rm -rf /sys/fs/bpf/emitd-bench
}

with_bpftrace() {	# SITE ITERS PROBE
	bpftrace -e "$3 { @c = count(); @h = hist(arg1); @s = sum(arg1); }" > $B/bpftrace.log 2>&1 &
	local pid=$!
	wait_log $B/bpftrace.log Attaching bpftrace || { kill -TERM $pid; exit 1; }
	sleep 0.5
	measure "$1" "$2"
	kill -INT $pid; wait $pid || true	# bpftrace stops on SIGINT (its handler is up once it attached)
}

row() {	# NAME SITE ITERS FLOOR_ARGS SPEC BPFTRACE_PROBE
	local name=$1 site=$2 iters=$3 spec=$5 bt=$6
	local base floor emitd bpft
	read -r -a fa <<< "$4"
	base=$(measure "$site" "$iters")
	floor=$(with_floor "$site" "$iters" "${fa[@]}")
	emitd=$(with_emitd "$site" "$iters" "$spec")
	bpft=$(with_bpftrace "$site" "$iters" "$bt")
	awk -v n="$name" -v b="$base" -v f="$floor" -v e="$emitd" -v t="$bpft" 'BEGIN {
		fc = f - b; ec = e - b; tc = t - b;
		printf "| %s | %.0f | %.0f | %.0f | %.0f | %.2fx | %.2fx |\n", n, b, fc, ec, tc, ec / fc, ec / tc }'
}

check_site bench_nop "90"
check_site bench_push "55"
check_site bench_plain "48 89 f8"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
{
	echo "| site | no probe (ns/iter) | floor: empty BPF (ns/event) | emitd (ns/event) | bpftrace (ns/event) | emitd / floor | emitd / bpftrace |"
	echo "|---|---|---|---|---|---|---|"
	row "USDT 5-byte nop (\`0f 1f 44 00 00\`, optimized)" nop5 2000000 "usdt bench hit" bench/bench.yml "usdt:$T:bench:hit"
	row "function entry, 1-byte nop (\`90\`, emulated)" nop 1000000 "sym bench_nop" bench/bench-nop.yml "uprobe:$T:bench_nop"
	row "function entry, \`push %rbp\` (\`55\`, emulated)" push 1000000 "sym bench_push" bench/bench-push.yml "uprobe:$T:bench_push"
	row "function entry, ordinary insn (\`mov %rdi,%rax\`, single-step)" plain 200000 "sym bench_plain" bench/bench-plain.yml "uprobe:$T:bench_plain"
} > "$out.tmp"
mv "$out.tmp" "$out"
echo "$(uname -r), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs;" \
     "load average $load0 before, $(cut -d' ' -f1-3 /proc/loadavg) after;" \
     "$RUNS runs each (median); command: make bench (bench/run.sh)" >> "$out"
cat "$out"
