#!/usr/bin/env bash
# `make fuzz`: run each libFuzzer target of BUILD_DIR for SECONDS seconds,
# from its committed seeds (tests/fuzz/corpus/<target>/) and its dictionary
# (tests/fuzz/<target>.dict, when there is one). New inputs go to
# BUILD_DIR/corpus/<target>/, never into the committed corpus; a crash, leak,
# timeout or sanitizer report leaves its input in BUILD_DIR/artifacts/ and
# fails the run. One line per target: executions and crashes.
#
# Usage: tests/fuzz/run.sh BUILD_DIR SECONDS TARGET...
set -uo pipefail
cd "$(dirname "$0")/../.."

dir=${1:?usage: $0 BUILD_DIR SECONDS TARGET...}
seconds=${2:?usage: $0 BUILD_DIR SECONDS TARGET...}
shift 2
failed=0

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

mkdir -p "$dir/artifacts" "$dir/logs"
for t in "$@"; do
	seeds=tests/fuzz/corpus/$t
	work=$dir/corpus/$t
	log=$dir/logs/$t.log
	dict=()
	[ -f "tests/fuzz/$t.dict" ] && dict=("-dict=tests/fuzz/$t.dict")
	[ -d "$seeds" ] || { echo "fuzz: $t has no seed corpus ($seeds)" >&2; failed=1; continue; }
	mkdir -p "$work"
	"$dir/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$dir/artifacts/$t-" "${dict[@]}" \
		"$work" "$seeds" > "$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
	if [ "$rc" = 0 ]; then
		printf '  %-20s %10s executions in %s s, %s, 0 crashes\n' "$t" "${execs:-?}" \
			"$seconds" "${cov:-cov: ?}"
	else
		printf '  %-20s %10s executions, 1 crash (exit %s): %s\n' "$t" "${execs:-?}" \
			"$rc" "$(ls -t "$dir/artifacts/$t-"* 2>/dev/null | head -n 1)"
		grep -m 1 -A 14 -E 'invariant broken|ERROR: |runtime error' "$log" >&2
		echo "  (whole log: $log)" >&2
		failed=1
	fi
done
exit "$failed"
