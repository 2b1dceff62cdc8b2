#!/usr/bin/env bash
# `make run`: the demo target plus the agent, in the foreground until Ctrl-C.
# Metrics: http://127.0.0.1:9477/metrics  (override with EMITD_LISTEN)
set -euo pipefail
cd "$(dirname "$0")/.."

listen=${EMITD_LISTEN:-127.0.0.1:9477}
rate=${DEMO_RATE:-200}
pin_root=${EMITD_PIN_ROOT:-/sys/fs/bpf/emitd}

if [ "$(id -u)" != 0 ]; then
	echo "make run: emitd loads BPF programs and needs root (try: sudo make run)" >&2
	exit 1
fi

./build/demo-target --rate "$rate" > /tmp/emitd-demo-target.log &
demo=$!
cleanup() {
	kill -TERM "$demo" 2>/dev/null || true
	wait "$demo" 2>/dev/null || true
	echo "demo target stopped; its totals are in /tmp/emitd-demo-target.log" >&2
	# the agent leaves its probes attached when it exits: take them off
	./build/emitd detach --pin-root "$pin_root" || true
}
trap cleanup EXIT

echo "demo target pid $demo at $rate iterations/s; starting emitd on http://$listen/metrics (Ctrl-C stops both; kill -HUP reloads spec/demo.yml)" >&2
./build/emitd run --spec spec/demo.yml --listen "$listen" --pin-root "$pin_root" --interval-ms 1000 &
agent=$!
trap 'kill -INT "$agent" 2>/dev/null || true' INT TERM
status=0
while kill -0 "$agent" 2>/dev/null; do
	wait "$agent" && status=0 || status=$?
done
exit "$status"
