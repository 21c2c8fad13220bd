#!/usr/bin/env bash
# bench/s3/run.sh BUILD_DIR
# Uploads and downloads one random object (64 MiB; SIZE_MIB to change) to the Ceph RGW used by
# the tests, with lifeboat (build/bench/s3/s3_transfer_bench), curl --aws-sigv4, rclone and
# awscli, interleaved, RUNS times each (default 5), and prints a markdown table: median wall
# time of the whole client process, its ratio to curl's, and the client's peak RSS. Every
# download is compared with the original. Builds nothing. Starts RGW (test/harness/rgw.sh)
# when none answers on 127.0.0.1:17480, and stops it again afterwards.
#
# Payload modes, as each client uses them over plain HTTP: lifeboat and awscli sign the body's
# SHA-256 (a pass over the file before sending, and RGW verifies it); curl and rclone send
# UNSIGNED-PAYLOAD. lifeboat's download is crash-safe (temporary file, fsync, rename); the
# others write the target in place.
set -euo pipefail
BUILD=$(realpath "${1:?usage: run.sh BUILD_DIR}")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$BUILD/bench/s3/s3_transfer_bench
RUNS=${RUNS:-5}
SIZE_MIB=${SIZE_MIB:-64}
E=http://127.0.0.1:17480
BUCKET=lifeboat-test
AK=AKIATESTTESTTEST0001
SK=testsecret0123456789
REGION=us-east-1

# Each client with its environment-only configuration (shared/research/s3-servers.md).
lifeboat() {
  env AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_REGION=$REGION AWS_CONFIG_STORAGE_ENDPOINT=$E \
    S3_BENCH_BUCKET=$BUCKET AWS_EC2_METADATA_DISABLED=true "$BIN" "$@"
}
curl_s3() { curl -sSf --aws-sigv4 "aws:amz:$REGION:s3" --user "$AK:$SK" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"; }
rclone_s3() {
  env -u AWS_CA_BUNDLE RCLONE_CONFIG=/dev/null RCLONE_CONFIG_LOC_TYPE=s3 RCLONE_CONFIG_LOC_PROVIDER=Other \
    RCLONE_CONFIG_LOC_ENV_AUTH=false RCLONE_CONFIG_LOC_ACCESS_KEY_ID=$AK RCLONE_CONFIG_LOC_SECRET_ACCESS_KEY=$SK \
    RCLONE_CONFIG_LOC_ENDPOINT=$E RCLONE_CONFIG_LOC_REGION=$REGION RCLONE_CONFIG_LOC_FORCE_PATH_STYLE=true rclone "$@"
}
aws_s3() {
  env AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_DEFAULT_REGION=$REGION AWS_CONFIG_FILE=/dev/null \
    AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true /usr/bin/aws --endpoint-url "$E" "$@"
}
up() { # client key  (reads $WORK/in.bin)
  case $1 in
    lifeboat) lifeboat put "$WORK/in.bin" "$2" ;;
    curl) curl_s3 -T "$WORK/in.bin" "$E/$BUCKET/$2" -o /dev/null ;;
    curl-signed) # the same work as lifeboat: hash the file, sign the hash, RGW verifies it
      curl -sSf --aws-sigv4 "aws:amz:$REGION:s3" --user "$AK:$SK" \
        -H "x-amz-content-sha256: $(sha256sum "$WORK/in.bin" | cut -c1-64)" -T "$WORK/in.bin" "$E/$BUCKET/$2" -o /dev/null ;;
    rclone) rclone_s3 copyto --ignore-times "$WORK/in.bin" "loc:$BUCKET/$2" ;;
    awscli) aws_s3 s3 cp --only-show-errors "$WORK/in.bin" "s3://$BUCKET/$2" ;;
  esac
}
down() { # client key  (writes $WORK/out.bin)
  case $1 in
    lifeboat) lifeboat get "$2" "$WORK/out.bin" ;;
    curl) curl_s3 -o "$WORK/out.bin" "$E/$BUCKET/$2" ;;
    rclone) rclone_s3 copyto "loc:$BUCKET/$2" "$WORK/out.bin" ;;
    awscli) aws_s3 s3 cp --only-show-errors "s3://$BUCKET/$2" "$WORK/out.bin" ;;
  esac
}

# Internal: run.sh BUILD --one up|down CLIENT KEY, one transfer timed by the parent.
if [[ ${2:-} == --one ]]; then
  "$3" "$4" "$5"
  exit
fi

[[ -x $BIN ]] || { echo "run.sh: $BIN is missing; build the s3_transfer_bench target" >&2; exit 1; }
for tool in curl rclone /usr/bin/aws /usr/bin/time cmp; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing" >&2; exit 1; }
done
RGW_DIR=$BUILD/test-work/rgw
started_rgw=0
if ! curl -s -o /dev/null "$E/"; then
  "$ROOT/test/harness/rgw.sh" start "$RGW_DIR" >&2
  started_rgw=1
fi
export WORK
WORK=$(mktemp -d /tmp/lifeboat-s3-bench.XXXXXX)
PREFIX=bench/$(date +%s)-$$
CLIENTS=(lifeboat curl curl-signed rclone awscli)
DOWN_CLIENTS=(lifeboat curl rclone awscli) # a GET has no payload to sign: curl-signed = curl
cleanup() {
  for client in "${CLIENTS[@]}"; do
    for k in "$PREFIX/$client.bin" "$PREFIX/warm-$client"; do curl_s3 -X DELETE "$E/$BUCKET/$k" -o /dev/null || true; done
  done
  rm -rf "$WORK"
  if [[ $started_rgw == 1 ]]; then "$ROOT/test/harness/rgw.sh" stop "$RGW_DIR" >&2 || true; fi
}
trap cleanup EXIT
head -c $((SIZE_MIB << 20)) /dev/urandom > "$WORK/in.bin"

# measure CLIENT OP KEY: appends "milliseconds peak_rss_kib" to $WORK/CLIENT.OP
measure() {
  local client=$1 op=$2 key=$3 t0 t1
  rm -f "$WORK/out.bin"
  t0=$(date +%s%N)
  if ! /usr/bin/time -f "%M" -o "$WORK/rss" "$0" "$BUILD" --one "$op" "$client" "$key" > "$WORK/log" 2>&1; then
    echo "run.sh: $client $op failed:" >&2; cat "$WORK/log" >&2; exit 1
  fi
  t1=$(date +%s%N)
  if [[ $op == down ]] && ! cmp -s "$WORK/in.bin" "$WORK/out.bin"; then
    echo "run.sh: $client downloaded different bytes" >&2; exit 1
  fi
  echo "$(( (t1 - t0) / 1000000 )) $(tail -1 "$WORK/rss")" >> "$WORK/$client.$op"
}

for client in "${CLIENTS[@]}"; do up "$client" "$PREFIX/warm-$client" > /dev/null 2>&1; done # warm caches
for ((i = 0; i < RUNS; i++)); do
  for client in "${CLIENTS[@]}"; do measure "$client" up "$PREFIX/$client.bin"; done
  for client in "${DOWN_CLIENTS[@]}"; do measure "$client" down "$PREFIX/$client.bin"; done
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { cut -d' ' -f1 "$WORK/$1.$2" | median; }
rss() { cut -d' ' -f2 "$WORK/$1.$2" | median; }
curl_up=$(ms curl up)
curl_down=$(ms curl down)
echo "### S3: ${SIZE_MIB} MiB upload and download, Ceph RGW on loopback (median of $RUNS)"
echo
echo "| client | upload s | vs curl | download s | vs curl | peak RSS up MiB | peak RSS down MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for client in "${CLIENTS[@]}"; do
  if [[ -f $WORK/$client.down ]]; then d=$(ms "$client" down); rd=$(rss "$client" down); else d=; rd=; fi
  awk -v c="$client" -v u="$(ms "$client" up)" -v d="$d" -v cu="$curl_up" -v cd="$curl_down" \
      -v ru="$(rss "$client" up)" -v rd="$rd" 'BEGIN {
    if (d == "") printf "| %s | %.3f | %.2f | — | — | %.1f | — |\n", c, u/1000, u/cu, ru/1024
    else printf "| %s | %.3f | %.2f | %.3f | %.2f | %.1f | %.1f |\n", c, u/1000, u/cu, d/1000, d/cd, ru/1024, rd/1024 }'
done
echo
echo "Wall time of the whole client process, start-up included; below 1.00 is faster than curl"
echo "(curl with UNSIGNED-PAYLOAD). curl-signed hashes the file (sha256sum) and signs the hash, as"
echo "lifeboat does over plain HTTP; RGW then verifies the SHA-256 of the body, which costs time too."
echo "Peak RSS is the largest process of the client's tree (/usr/bin/time %M)."
