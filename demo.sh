#!/usr/bin/env bash
# ./demo.sh: installs what is missing, builds lifeboat, starts an agent on the embedded defaults
# and shows `lifeboat status` (the full outage story arrives with the demo of issue 7).
set -euo pipefail
cd "$(dirname "$0")"
./cmake/deps.sh build
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target lifeboat
bin=build/release/cli/lifeboat
work=$(mktemp -d /tmp/lifeboat-demo.XXXXXX)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin" run --set prefix="$work/prefix" --set status_listen=127.0.0.1:18470 2>"$work/agent.log" &
pid=$!
for _ in $(seq 50); do "$bin" status --addr 127.0.0.1:18470 >/dev/null 2>&1 && break; sleep 0.1; done
echo "== lifeboat status"
"$bin" status --addr 127.0.0.1:18470 || true
echo "== stopping (SIGTERM)"
kill -TERM "$pid"; wait "$pid"; echo "agent exited with $?"
echo "== agent log"; cat "$work/agent.log"
