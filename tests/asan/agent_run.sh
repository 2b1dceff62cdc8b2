#!/usr/bin/env bash
# `make test-asan`, second half: the agent built with ASan and UBSan
# (OUTPUT=build-asan) runs on spec/demo.yml against the demo target for a few
# seconds; every endpoint is scraped (text, OpenMetrics, gzip, /snapshot,
# /normalization, /healthz), then SIGTERM. Fails on a non-zero exit, a failed
# scrape, or any sanitizer report (leaks included) in the agent's or the
# target's output.
#
# Usage: tests/asan/agent_run.sh BUILD_DIR   (root: the agent loads BPF)
set -euo pipefail
cd "$(dirname "$0")/../.."

out=${1:?usage: $0 BUILD_DIR}
emitd=$out/emitd
demo=$out/demo-target
seconds=${ASAN_RUN_SECONDS:-3}

fail() {
	echo "test-asan: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || fail "not root (the agent loads BPF programs)"
for f in "$emitd" "$demo"; do
	[ -x "$f" ] || fail "$f is not built (make OUTPUT=$out CFLAGS=... all)"
done

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

tmp=$(mktemp -d /tmp/emitd-asan.XXXXXX)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pin_root=/sys/fs/bpf/emitd-test-asan-$$-$port
agent=
target=

# Whatever failed, nothing of this run is left behind (set +e: killing a
# process that has already exited must not stop the cleanup).
cleanup() {
	set +e
	[ -z "$agent" ] || kill -KILL "$agent" 2>/dev/null
	[ -z "$target" ] || kill -KILL "$target" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$pin_root" "$tmp"
}
trap cleanup EXIT

# The demo spec names build/demo-target; this run probes the sanitized one.
sed "s#binary: build/demo-target#binary: $demo#" spec/demo.yml > "$tmp/demo.yml"
grep -q "binary: $demo\$" "$tmp/demo.yml" || fail "spec/demo.yml no longer names build/demo-target"

"$demo" --rate 500 > "$tmp/target.out" 2> "$tmp/target.err" &
target=$!
"$emitd" run --spec "$tmp/demo.yml" --listen "127.0.0.1:$port" --pin-root "$pin_root" \
	--interval-ms 200 > "$tmp/agent.log" 2>&1 &
agent=$!

url=http://127.0.0.1:$port
ready=
for _ in $(seq 1 300); do
	kill -0 "$agent" 2>/dev/null || break
	if curl -sf -o /dev/null "$url/healthz"; then
		ready=1
		break
	fi
	sleep 0.1
done
if [ -z "$ready" ]; then
	cat "$tmp/agent.log" >&2
	if ! kill -0 "$agent" 2>/dev/null; then
		status=0
		wait "$agent" || status=$?
		agent=
		fail "the agent exited with $status before it was healthy (its log above)"
	fi
	fail "the agent did not become healthy within 30 s (its log above)"
fi
sleep "$seconds"

# scrape NAME EXPECTED_CONTENT_TYPE_PREFIX CURL_ARGS... : the body in $tmp/NAME
scrape() {
	local name=$1 type=$2 code ctype
	shift 2
	code=$(curl -s -o "$tmp/$name" -w '%{http_code} %{content_type}' "$@") ||
		fail "$name: curl failed"
	ctype=${code#* }
	code=${code%% *}
	[ "$code" = 200 ] || fail "$name: HTTP $code"
	case $ctype in
	"$type"*) ;;
	*) fail "$name: Content-Type '$ctype', expected '$type...'" ;;
	esac
	echo "  ok       $name ($(wc -c < "$tmp/$name") bytes, $ctype)"
}

scrape text 'text/plain; version=0.0.4' "$url/metrics"
grep -q '^demo_requests_total{route="' "$tmp/text" || fail "text: no demo_requests_total sample"
scrape openmetrics 'application/openmetrics-text; version=1.0.0' \
	-H 'Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' "$url/metrics"
[ "$(tail -n 1 "$tmp/openmetrics")" = '# EOF' ] || fail "openmetrics: no '# EOF' at the end"
scrape gzip 'text/plain; version=0.0.4' -H 'Accept-Encoding: gzip' "$url/metrics"
gzip -dc < "$tmp/gzip" | grep -q '^demo_requests_total{' || fail "gzip: does not inflate to the exposition"
scrape snapshot 'application/json' "$url/snapshot"
scrape normalization 'application/json' "$url/normalization"
scrape healthz 'text/plain' "$url/healthz"

kill -TERM "$agent"
status=0
wait "$agent" || status=$?
agent=
kill -TERM "$target"
tstatus=0
wait "$target" || tstatus=$?
target=

if grep -qE 'runtime error|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer' \
	"$tmp/agent.log" "$tmp/target.err"; then
	cat "$tmp/agent.log" "$tmp/target.err" >&2
	fail "sanitizer report (above)"
fi
if [ "$status" != 0 ]; then
	cat "$tmp/agent.log" >&2
	fail "the agent exited with $status after SIGTERM"
fi
[ "$tstatus" = 0 ] || fail "the demo target exited with $tstatus after SIGTERM"
echo "  ok       agent run: $seconds s on spec/demo.yml, exit 0, no sanitizer report"
