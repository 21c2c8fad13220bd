#!/usr/bin/env bash
# demo_fails_loudly.sh DEMO LIFEBOAT: runs the demo with a lifeboat whose control plane cannot
# come back after the outage (a wrapper: the first `cp` is the real one, the second exits at once;
# the agents are the real binary) and checks that the demo notices, exits non-zero, names the
# step, shows the control plane's log tail, and stops the three agents it started by then.
set -euo pipefail
demo=${1:?demo.sh}
real=${2:?lifeboat binary}
dir=$(mktemp -d /tmp/lifeboat-demo-fail.XXXXXX)
trap 'rm -rf "$dir"' EXIT

cat >"$dir/lifeboat" <<WRAPPER
#!/bin/sh
if [ "\$1" = cp ] && [ -e "$dir/cp-started" ]; then
  echo "lifeboat cp: sabotaged by demo_fails_loudly" >&2; exit 3
fi
[ "\$1" = cp ] && touch "$dir/cp-started"
exec "$real" "\$@"
WRAPPER
chmod +x "$dir/lifeboat"

rc=0
LIFEBOAT_BIN=$dir/lifeboat timeout 60 "$demo" >"$dir/out" 2>"$dir/err" || rc=$?
cat "$dir/out" "$dir/err"
check() { grep -q -- "$1" "$dir/err" || { echo "FAIL: stderr lacks: $1"; exit 1; }; }
((rc != 0 && rc != 124)) || { echo "FAIL: demo exit code $rc (want non-zero, not a timeout)"; exit 1; }
check "demo FAILED"
check "cp exited early"
grep -q "^== .*5. The control plane returns" "$dir/out" || { echo "FAIL: did not reach step 5"; exit 1; }
check "last lines of cp.log"
check "sabotaged by demo_fails_loudly"
# The work directory is gone and no agent of this run survived.
work=$(sed -n 's/.*Setting the scene in \(\/tmp\/lifeboat-demo\.[A-Za-z0-9]*\).*/\1/p' "$dir/out")
[[ -n $work ]] || { echo "FAIL: no work directory in the output"; exit 1; }
[[ ! -e $work ]] || { echo "FAIL: $work was left behind"; exit 1; }
if pgrep -f "$work" >/dev/null; then echo "FAIL: processes of $work still run"; exit 1; fi
echo "PASS: the demo failed loudly (exit $rc) and cleaned up"
