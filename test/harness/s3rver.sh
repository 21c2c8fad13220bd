#!/usr/bin/env bash
# s3rver.sh start|stop|env DIR
# s3rver (npm, pinned in test/harness/s3rver-peer/package-lock.json and installed there with
# `npm ci`): a real S3 server that ignores conditional writes (If-None-Match and If-Match on PUT
# always overwrite, ../shared/research/s3-servers.md), as some S3-compatible stores do. The
# election's tests run on it to show what lifeboat does on such a store. Bound to 127.0.0.1:17490
# (S3RVER_PORT) with its data under DIR, the bucket `lifeboat-test` pre-created; access key S3RVER
# (it checks the key and the date, not the signature). A running instance on the port is reused
# or borrowed, as rgw.sh does.
set -euo pipefail
cmd=${1:?start|stop|env}
D=$(realpath -m "${2:?dir}")
PORT=${S3RVER_PORT:-17490}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PEER=$HERE/s3rver-peer
BUCKET=${LIFEBOAT_TEST_S3RVER_BUCKET:-lifeboat-test}

stop() {
  if [[ -f $D/s3rver.pid ]]; then
    pid=$(cat "$D/s3rver.pid"); kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true; rm -f "$D/s3rver.pid"
  fi
}
# A signed request (s3rver wants x-amz-content-sha256) listing the bucket: 200 once it serves it.
bucket_up() {
  [[ $(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "http://127.0.0.1:$PORT/$BUCKET?list-type=2&max-keys=1") == 200 ]]
}

case $cmd in
  stop) if [[ -f $D/borrowed ]]; then rm -f "$D/borrowed"; exit 0; fi; stop; exit 0 ;;
  env) echo "export LIFEBOAT_TEST_S3RVER_ENDPOINT=http://127.0.0.1:$PORT LIFEBOAT_TEST_S3RVER_BUCKET=$BUCKET"
       echo "export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1"; exit 0 ;;
  start) ;;
  *) echo "usage: s3rver.sh start|stop|env DIR" >&2; exit 2 ;;
esac

command -v node > /dev/null || { echo "s3rver.sh: node is missing (apt-get install nodejs npm)" >&2; exit 1; }
if [[ ! -f $PEER/node_modules/s3rver/bin/s3rver.js || $PEER/package-lock.json -nt $PEER/node_modules/.installed ]]; then
  (cd "$PEER" && npm ci --no-audit --no-fund > /dev/null) || { echo "s3rver.sh: npm ci failed in $PEER" >&2; exit 1; }
  touch "$PEER/node_modules/.installed"
fi

if bucket_up; then
  if [[ -f $D/s3rver.pid ]] && kill -0 "$(cat "$D/s3rver.pid")" 2>/dev/null; then
    echo "s3rver.sh: reusing s3rver on 127.0.0.1:$PORT"; exit 0
  fi
  mkdir -p "$D"; touch "$D/borrowed"; echo "s3rver.sh: borrowing the s3rver already on 127.0.0.1:$PORT"; exit 0
fi
stop
rm -rf "$D"; mkdir -p "$D/data/$BUCKET" "$D/log" # a folder under the data directory is a bucket
# The legacy provider: s3rver builds ListObjectsV2 continuation tokens with DES.
NODE_OPTIONS=--openssl-legacy-provider setsid node "$PEER/node_modules/s3rver/bin/s3rver.js" \
  -d "$D/data" -a 127.0.0.1 -p "$PORT" -s > "$D/log/s3rver.out" 2>&1 < /dev/null & echo $! > "$D/s3rver.pid"
for _ in $(seq 300); do
  kill -0 "$(cat "$D/s3rver.pid")" 2>/dev/null || { echo "s3rver.sh: s3rver died:" >&2; tail -n 20 "$D/log/s3rver.out" >&2; exit 1; }
  if bucket_up; then echo "s3rver.sh: s3rver up on 127.0.0.1:$PORT, bucket $BUCKET"; exit 0; fi
  sleep 0.2
done
echo "s3rver.sh: s3rver not up after 60 s, see $D/log" >&2; exit 1
