#!/usr/bin/env bash
# bench/s3/run.sh BUILD_DIR
# Uploads and downloads one random object (64 MiB; SIZE_MIB to change) to the Ceph RGW used by
# the tests, with lifeboat (build/bench/s3/s3_transfer_bench), curl --aws-sigv4, rclone and
# awscli, interleaved (the order rotating each round), RUNS times each (default 5), and prints
# markdown tables: median wall time of the whole client process, its ratio to curl's, and the
# client's peak RSS. Every download is compared with the original. Builds nothing. Starts RGW
# (test/harness/rgw.sh) when none answers on 127.0.0.1:17480, and stops it again afterwards.
#
# What each client does, over plain HTTP: lifeboat signs the body (aws-chunked: each 1 MiB chunk
# hashed and signed as it is sent; RGW verifies every chunk); curl and rclone send
# UNSIGNED-PAYLOAD; awscli signs each part's SHA-256. lifeboat's download is crash-safe
# (temporary file, fsync, rename); the others write the target in place and do not fsync. So
# the table also has baselines doing lifeboat's work: curl-prehashed sends the body's SHA-256
# (computed once, before the runs) and RGW verifies it; curl-signed also times the hashing
# (`openssl dgst -sha256`, the fastest stock hasher here: coreutils sha256sum has no SHA-NI);
# curl+fsync downloads and then runs `sync FILE`. Over TLS (RGW's HTTPS endpoint, rgw.sh's CA)
# lifeboat with s3_unsigned_payload_over_tls and curl both send UNSIGNED-PAYLOAD: equal work.
set -euo pipefail
BUILD=$(realpath "${1:?usage: run.sh BUILD_DIR}")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$BUILD/bench/s3/s3_transfer_bench
RUNS=${RUNS:-5}
SIZE_MIB=${SIZE_MIB:-64}
E=http://127.0.0.1:17480
ETLS=https://127.0.0.1:17443
BUCKET=lifeboat-test
AK=AKIATESTTESTTEST0001
SK=testsecret0123456789
REGION=us-east-1
RGW_DIR=$BUILD/test-work/rgw
CA=$RGW_DIR/tls/ca.crt

# Each client with its environment-only configuration (shared/research/s3-servers.md).
lifeboat() {
  env AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_REGION=$REGION AWS_CONFIG_STORAGE_ENDPOINT=$E \
    S3_BENCH_BUCKET=$BUCKET AWS_EC2_METADATA_DISABLED=true "$BIN" "$@"
}
lifeboat_tls() {
  env AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_REGION=$REGION AWS_CONFIG_STORAGE_ENDPOINT=$ETLS \
    AWS_CA_BUNDLE="$CA" S3_BENCH_UNSIGNED_PAYLOAD_OVER_TLS=on S3_BENCH_BUCKET=$BUCKET AWS_EC2_METADATA_DISABLED=true \
    "$BIN" "$@"
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
    curl-prehashed) # lifeboat's upload work: RGW verifies the body's SHA-256 (computed before the runs)
      curl -sSf --aws-sigv4 "aws:amz:$REGION:s3" --user "$AK:$SK" -H "x-amz-content-sha256: $(cat "$WORK/in.sha256")" \
        -T "$WORK/in.bin" "$E/$BUCKET/$2" -o /dev/null ;;
    curl-signed) # the whole job of a signed upload with stock tools: hash (openssl, SHA-NI), then send
      curl -sSf --aws-sigv4 "aws:amz:$REGION:s3" --user "$AK:$SK" \
        -H "x-amz-content-sha256: $(openssl dgst -sha256 -r "$WORK/in.bin" | cut -c1-64)" -T "$WORK/in.bin" "$E/$BUCKET/$2" -o /dev/null ;;
    rclone) rclone_s3 copyto --ignore-times "$WORK/in.bin" "loc:$BUCKET/$2" ;;
    awscli) aws_s3 s3 cp --only-show-errors "$WORK/in.bin" "s3://$BUCKET/$2" ;;
    lifeboat-tls) lifeboat_tls put "$WORK/in.bin" "$2" ;;
    curl-tls) curl_s3 --cacert "$CA" -T "$WORK/in.bin" "$ETLS/$BUCKET/$2" -o /dev/null ;;
  esac
}
down() { # client key  (writes $WORK/out.bin)
  case $1 in
    lifeboat) lifeboat get "$2" "$WORK/out.bin" ;;
    curl) curl_s3 -o "$WORK/out.bin" "$E/$BUCKET/$2" ;;
    curl+fsync) curl_s3 -o "$WORK/out.bin" "$E/$BUCKET/$2" && sync "$WORK/out.bin" ;;
    rclone) rclone_s3 copyto "loc:$BUCKET/$2" "$WORK/out.bin" ;;
    awscli) aws_s3 s3 cp --only-show-errors "s3://$BUCKET/$2" "$WORK/out.bin" ;;
    lifeboat-tls) lifeboat_tls get "$2" "$WORK/out.bin" ;;
    curl-tls) curl_s3 --cacert "$CA" -o "$WORK/out.bin" "$ETLS/$BUCKET/$2" ;;
    curl-tls+fsync) curl_s3 --cacert "$CA" -o "$WORK/out.bin" "$ETLS/$BUCKET/$2" && sync "$WORK/out.bin" ;;
  esac
}

# Internal: run.sh BUILD --one up|down CLIENT KEY, one transfer timed by the parent.
if [[ ${2:-} == --one ]]; then
  "$3" "$4" "$5"
  exit
fi

[[ -x $BIN ]] || { echo "run.sh: $BIN is missing; build the s3_transfer_bench target" >&2; exit 1; }
for tool in curl rclone /usr/bin/aws /usr/bin/time cmp sha256sum openssl; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing" >&2; exit 1; }
done
started_rgw=0
if ! curl -s -o /dev/null "$E/"; then started_rgw=1; fi
# Starts one, or borrows (and takes the CA of) the one that answers.
"$ROOT/test/harness/rgw.sh" start "$RGW_DIR" >&2
[[ -s $CA ]] || { echo "run.sh: $CA is missing: the RGW on $E serves no HTTPS (restart it with test/harness/rgw.sh)" >&2; exit 1; }
export WORK
WORK=$(mktemp -d /tmp/lifeboat-s3-bench.XXXXXX)
PREFIX=bench/$(date +%s)-$$
UP_CLIENTS=(lifeboat curl curl-prehashed curl-signed rclone awscli lifeboat-tls curl-tls)
DOWN_CLIENTS=(lifeboat curl curl+fsync rclone awscli lifeboat-tls curl-tls curl-tls+fsync)
cleanup() {
  for client in "${UP_CLIENTS[@]}"; do
    for k in "$PREFIX/$client.bin" "$PREFIX/warm-$client"; do curl_s3 -X DELETE "$E/$BUCKET/$k" -o /dev/null || true; done
  done
  rm -rf "$WORK"
  if [[ $started_rgw == 1 ]]; then "$ROOT/test/harness/rgw.sh" stop "$RGW_DIR" >&2 || true; fi
}
trap cleanup EXIT
head -c $((SIZE_MIB << 20)) /dev/urandom > "$WORK/in.bin"
sha256sum "$WORK/in.bin" | cut -c1-64 > "$WORK/in.sha256"

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
# The object each download client reads: the one its own upload wrote, or lifeboat's.
source_of() { case $1 in curl+fsync) echo curl ;; curl-tls+fsync) echo curl-tls ;; *) echo "$1" ;; esac; }

for client in "${UP_CLIENTS[@]}"; do up "$client" "$PREFIX/warm-$client" > /dev/null 2>&1; done # warm caches
# Each round starts one client further down the list: the first transfers after a burst of
# uploads meet the OSD and the disk still writing it back (a download's fsync most of all), so no
# client may always go first.
for ((i = 0; i < RUNS; i++)); do
  for ((j = 0; j < ${#UP_CLIENTS[@]}; j++)); do
    client=${UP_CLIENTS[(i + j) % ${#UP_CLIENTS[@]}]}
    measure "$client" up "$PREFIX/$client.bin"
  done
  for ((j = 0; j < ${#DOWN_CLIENTS[@]}; j++)); do
    client=${DOWN_CLIENTS[(i + j) % ${#DOWN_CLIENTS[@]}]}
    measure "$client" down "$PREFIX/$(source_of "$client").bin"
  done
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { if [[ -f $WORK/$1.$2 ]]; then cut -d' ' -f1 "$WORK/$1.$2" | median; fi; }
rss() { if [[ -f $WORK/$1.$2 ]]; then cut -d' ' -f2 "$WORK/$1.$2" | median; fi; }
# row NAME UP_CLIENT DOWN_CLIENT BASE_UP BASE_DOWN
row() {
  awk -v c="$1" -v u="$(ms "$2" up)" -v d="$(ms "$3" down)" -v bu="$(ms "$4" up)" -v bd="$(ms "$5" down)" \
      -v ru="$(rss "$2" up)" -v rd="$(rss "$3" down)" 'BEGIN {
    us = u == "" ? "—" : sprintf("%.3f", u/1000); ur = u == "" ? "—" : sprintf("%.2f", u/bu)
    ds = d == "" ? "—" : sprintf("%.3f", d/1000); dr = d == "" ? "—" : sprintf("%.2f", d/bd)
    rus = ru == "" ? "—" : sprintf("%.1f", ru/1024); rds = rd == "" ? "—" : sprintf("%.1f", rd/1024)
    printf "| %s | %s | %s | %s | %s | %s | %s |\n", c, us, ur, ds, dr, rus, rds }'
}
ratio() { awk -v a="$(ms "$1" "$3")" -v b="$(ms "$2" "$3")" 'BEGIN { printf "| %.3f | %.3f | **%.2f** |", a/1000, b/1000, a/b }'; }

echo "### S3: ${SIZE_MIB} MiB upload and download, Ceph RGW on loopback (median of $RUNS)"
echo
echo "| client | upload s | vs curl | download s | vs curl | peak RSS up MiB | peak RSS down MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|"
row lifeboat lifeboat lifeboat curl curl
row curl curl curl curl curl
row curl-prehashed curl-prehashed - curl curl
row curl-signed curl-signed - curl curl
row "curl + fsync" - curl+fsync curl curl
row rclone rclone rclone curl curl
row awscli awscli awscli curl curl
echo
echo "Over TLS (RGW's HTTPS endpoint), both sending UNSIGNED-PAYLOAD:"
echo
echo "| client | upload s | vs curl-tls | download s | vs curl-tls | peak RSS up MiB | peak RSS down MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|"
row lifeboat-tls lifeboat-tls lifeboat-tls curl-tls curl-tls
row curl-tls curl-tls curl-tls curl-tls curl-tls
row "curl-tls + fsync" - curl-tls+fsync curl-tls curl-tls
echo
echo "The same work side by side:"
echo
echo "| comparison | lifeboat s | baseline s | ratio |"
echo "|---|---:|---:|---:|"
echo "| upload, signed payload, the whole job: lifeboat (aws-chunked) / openssl dgst + curl (curl-signed) $(ratio lifeboat curl-signed up)"
echo "| upload, signed payload, hash for free: lifeboat (aws-chunked) / curl-prehashed $(ratio lifeboat curl-prehashed up)"
echo "| download, durable: lifeboat (temporary file, fsync, rename) / curl + fsync $(ratio lifeboat curl+fsync down)"
echo "| upload over TLS, UNSIGNED-PAYLOAD: lifeboat-tls / curl-tls $(ratio lifeboat-tls curl-tls up)"
echo "| download over TLS, durable: lifeboat-tls / curl-tls + fsync $(ratio lifeboat-tls curl-tls+fsync down)"
echo
echo "Wall time of the whole client process, start-up included; below 1.00 is faster than the"
echo "baseline. Over plain HTTP lifeboat signs the payload: each 1 MiB chunk is hashed and signed"
echo "as it is sent (aws-chunked) and RGW verifies every chunk; curl sends UNSIGNED-PAYLOAD."
echo "curl-prehashed sends the body's SHA-256, computed before the runs, which RGW verifies: the"
echo "floor of a signed upload; curl-signed also times the hashing (openssl dgst -sha256, then curl"
echo "sends the hash). lifeboat's downloads are crash-safe (temporary file, written back while it"
echo "arrives, fsync, rename); curl + fsync runs \`sync FILE\` after curl. Over TLS lifeboat runs with"
echo "s3_unsigned_payload_over_tls = on."
echo "Peak RSS is the largest process of the client's tree (/usr/bin/time %M)."
