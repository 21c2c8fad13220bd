#!/usr/bin/env bash
# bench/trust/run.sh BUILD_DIR
# The cost of trusted backups on export (docs/security.md): three exporters (`lifeboat run`, each
# the leader of its own bucket prefix on the Ceph RGW of the tests, export delay 0, each with its
# own reference CP `lifeboat cp` on loopback) run side by side in one run:
#
#   plain   neither signing nor encryption (config.json as Kong writes it)
#   signed  cluster_fallback_config_signing_key (a signature object written first, then config.json)
#   sealed  signing plus cluster_fallback_config_encryption_recipients (the config encrypted to an
#           age file on the disk pool, hashed while it is written, signed, uploaded from the file)
# A leading exporter starts the encryption (signing only: the config's SHA-256) on the disk pool
# once the config is validated, alongside the cache write (exporter::prepare), and the export
# itself starts then too (config_pipeline::on_validated).
#
# For each config size (SIZES_MIB, default "1 50"; bench/protocol/kong_config_gen's synthetic Kong
# configs) and RUNS rounds (default 5), the same new config is pushed to each exporter in turn,
# the order rotating each round, so load on the shared machine falls on all three alike. Two
# figures per export: the CP's "config sent" log line to the exporter's "config exported" line
# (transfer, inflate, validation, cache write, then the export), and the exporter's own "ms=" of
# that line (from the config in hand to the object in the bucket: encryption, signature PUT and the
# fenced upload). Medians, and each mode as a ratio of plain (the issue's target: at most 1.1x).
# The last sealed object is decrypted with the `age` command and compared with the config, and
# the last signed one's signature object is fetched, so a mode that silently did nothing fails.
#
# Then the import of those three backups (IMPORT_RUNS rounds, default RUNS, the order rotating):
# each round starts, per mode, a new importer (`lifeboat run`, no cache, its CP unreachable,
# gateway_handoff file) with cluster_fallback_config_trusted_keys for signed and sealed, and
# cluster_fallback_config_decryption_identity for sealed; the figure is the importer's "fetching
# the fallback config" line to its "fallback config applied" line (GET, hashing, signature check,
# decryption, validation, cache write and the gateway's file). The gateway's file is compared
# with the config, so an import that took something else fails.
# Builds nothing (needs the lifeboat and pipeline_config_gen targets). Starts RGW
# (test/harness/rgw.sh) when none answers, stops it afterwards.
set -euo pipefail
BUILD=$(realpath "${1:?usage: run.sh BUILD_DIR}")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LIFEBOAT=$BUILD/cli/lifeboat
GEN=$BUILD/bench/pipeline/pipeline_config_gen
RUNS=${RUNS:-5}
IMPORT_RUNS=${IMPORT_RUNS:-$RUNS}
SIZES_MIB=${SIZES_MIB:-1 50}
MODES=(plain signed sealed)
E=http://127.0.0.1:17480
BUCKET=lifeboat-test
AK=AKIATESTTESTTEST0001
SK=testsecret0123456789
REGION=us-east-1
VERSION=3.9.0.0

for f in "$LIFEBOAT" "$GEN"; do
  [[ -x $f ]] || { echo "run.sh: $f is missing; build the lifeboat and pipeline_config_gen targets" >&2; exit 1; }
done
for tool in curl openssl age sha256sum; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing" >&2; exit 1; }
done

curl_s3() { curl -sSf --aws-sigv4 "aws:amz:$REGION:s3" --user "$AK:$SK" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
log_ms() { date -d "$(grep -F "$2" "$1" | tail -1 | sed -E 's/^ts=([^ ]+).*/\1/')" +%s%3N; }
count() { grep -c -F "$2" "$1" 2>/dev/null || true; }
wait_for() { # seconds command...: polls every 20 ms
  local deadline=$(($(date +%s) + $1))
  shift
  until "$@"; do
    (($(date +%s) < deadline)) || return 1
    sleep 0.02
  done
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
agent_env=(env AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_REGION=$REGION AWS_CONFIG_STORAGE_ENDPOINT=$E
  AWS_EC2_METADATA_DISABLED=true)

RGW_DIR=$BUILD/test-work/rgw
started_rgw=0
if ! curl -s -o /dev/null "$E/"; then
  "$ROOT/test/harness/rgw.sh" start "$RGW_DIR" >&2
  started_rgw=1
fi
WORK=$(mktemp -d /tmp/lifeboat-trust-bench.XXXXXX)
PREFIX=bench-trust/$(date +%s)-$$
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  env AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_DEFAULT_REGION=$REGION AWS_CONFIG_FILE=/dev/null \
    AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true /usr/bin/aws --endpoint-url "$E" \
    s3 rm --recursive --only-show-errors "s3://$BUCKET/$PREFIX/" >/dev/null 2>&1 || true
  rm -rf "$WORK"
  if [[ $started_rgw == 1 ]]; then "$ROOT/test/harness/rgw.sh" stop "$RGW_DIR" >&2 || true; fi
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout "$WORK/cluster.key" \
  -out "$WORK/cluster.crt" -days 2 -subj /CN=kong_clustering 2>/dev/null
"$LIFEBOAT" keys generate signing --out "$WORK/keys" >/dev/null 2>&1
RECIPIENT=$("$LIFEBOAT" keys generate encryption --out "$WORK/keys" 2>/dev/null)

# start SIZE MODE: a CP serving $WORK/MODE/cp.json (the round-0 config) and its exporter.
start() {
  local size=$1 mode=$2 dir=$WORK/$2 port extra=()
  mkdir -p "$dir"
  port=$(free_port)
  cp "$WORK/config-$size-0.json" "$dir/cp.json"
  "$LIFEBOAT" cp --listen "127.0.0.1:$port" --cert "$WORK/cluster.crt" --key "$WORK/cluster.key" \
    --config "$dir/cp.json" 2>"$dir/cp.log" &
  PIDS+=($!)
  echo "$!" >"$dir/cp.pid"
  case $mode in
    signed) extra=(--set cluster_fallback_config_signing_key="$WORK/keys/signing.key.pem") ;;
    sealed) extra=(--set cluster_fallback_config_signing_key="$WORK/keys/signing.key.pem"
      --set cluster_fallback_config_encryption_recipients="$RECIPIENT") ;;
  esac
  "${agent_env[@]}" "$LIFEBOAT" run --set prefix="$dir/prefix" --set status_listen="unix:$dir/status.sock" \
    --set cluster_control_plane="127.0.0.1:$port" --set cluster_cert="$WORK/cluster.crt" \
    --set cluster_cert_key="$WORK/cluster.key" --set node_version=$VERSION \
    --set cluster_fallback_config_export=on \
    --set cluster_fallback_config_storage="s3://$BUCKET/$PREFIX/$mode$size" \
    --set cluster_fallback_config_export_delay=0 --set election_interval=1 "${extra[@]}" 2>"$dir/ex.log" &
  PIDS+=($!)
  echo "$!" >"$dir/ex.pid"
}

stop_all() {
  local mode
  for mode in "${MODES[@]}"; do
    kill "$(cat "$WORK/$mode/ex.pid")" "$(cat "$WORK/$mode/cp.pid")" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  PIDS=()
}

# push SIZE MODE ROUND: the round's config to MODE's CP; records the two times.
push() {
  local size=$1 mode=$2 n=$3 dir=$WORK/$2 before exported
  before=$(count "$dir/cp.log" 'config sent to data plane')
  exported=$(count "$dir/ex.log" 'config exported')
  cp "$WORK/config-$size-$n.json" "$dir/next.json"
  mv "$dir/next.json" "$dir/cp.json" # the CP polls its file every second
  wait_for 180 eval '[[ $(count "$dir/cp.log" "config sent to data plane") -gt $before ]]' ||
    { echo "run.sh: the $mode CP did not push" >&2; tail "$dir/cp.log" >&2; exit 1; }
  wait_for 180 eval '[[ $(count "$dir/ex.log" "config exported") -gt $exported ]]' ||
    { echo "run.sh: the $mode export of round $n is missing" >&2; tail "$dir/ex.log" >&2; exit 1; }
  echo $(($(log_ms "$dir/ex.log" "config exported") - $(log_ms "$dir/cp.log" "config sent to data plane"))) \
    >>"$WORK/total-$mode.$size"
  grep -F "config exported" "$dir/ex.log" | tail -1 | grep -oE ' ms=[0-9]+' | cut -c5- >>"$WORK/export-$mode.$size"
}

# import_one SIZE MODE ROUND: a new importer of MODE's backup; records its time and stops it.
import_one() {
  local size=$1 mode=$2 n=$3 dir=$WORK/import-$2-$3 extra=() pid
  mkdir -p "$dir"
  case $mode in
    signed) extra=(--set cluster_fallback_config_trusted_keys="$WORK/keys/signing.pub.pem") ;;
    sealed) extra=(--set cluster_fallback_config_trusted_keys="$WORK/keys/signing.pub.pem"
      --set cluster_fallback_config_decryption_identity="$WORK/keys/encryption.key") ;;
  esac
  "${agent_env[@]}" "$LIFEBOAT" run --set prefix="$dir/prefix" --set status_listen="unix:$dir/status.sock" \
    --set cluster_control_plane="127.0.0.1:$(free_port)" --set cluster_cert="$WORK/cluster.crt" \
    --set cluster_cert_key="$WORK/cluster.key" --set node_version=$VERSION \
    --set cluster_fallback_config_import=on \
    --set cluster_fallback_config_storage="s3://$BUCKET/$PREFIX/$mode$size" \
    --set gateway_handoff=file --set gateway_config_path="$dir/kong.json" "${extra[@]}" 2>"$dir/im.log" &
  pid=$!
  PIDS+=($pid)
  wait_for 180 grep -s -q -F "fallback config applied" "$dir/im.log" ||
    { echo "run.sh: the $mode import of round $n did not finish" >&2; tail "$dir/im.log" >&2; exit 1; }
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  cmp -s "$dir/kong.json" "$WORK/config-$size-$RUNS.json" ||
    python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' \
      "$dir/kong.json" "$WORK/config-$size-$RUNS.json" ||
    { echo "run.sh: the $mode import gave the gateway another config" >&2; exit 1; }
  echo $(($(log_ms "$dir/im.log" "fallback config applied") - $(log_ms "$dir/im.log" "fetching the fallback config"))) \
    >>"$WORK/import-$mode.$size"
  rm -rf "$dir"
}

for size in $SIZES_MIB; do
  for ((n = 0; n <= RUNS; n++)); do "$GEN" $((size << 20)) $((n + 100)) >"$WORK/config-$size-$n.json"; done
  for mode in "${MODES[@]}"; do start "$size" "$mode"; done
  for mode in "${MODES[@]}"; do
    wait_for 180 grep -q -F 'config exported' "$WORK/$mode/ex.log" ||
      { echo "run.sh: no first $mode export of the $size MiB config" >&2; tail "$WORK/$mode/ex.log" >&2; exit 1; }
  done
  for ((n = 1; n <= RUNS; n++)); do
    order=("${MODES[@]:$((n % 3))}" "${MODES[@]:0:$((n % 3))}")
    for mode in "${order[@]}"; do push "$size" "$mode" "$n"; done
  done
  # What each mode wrote is what it claims: the sealed object decrypts to the config, the signed
  # one has the signature object of its bytes.
  key=$PREFIX/sealed$size/$VERSION/config.json
  curl_s3 -o "$WORK/sealed.age" "$E/$BUCKET/$key"
  age -d -i "$WORK/keys/encryption.key" "$WORK/sealed.age" | cmp -s - "$WORK/config-$size-$RUNS.json" ||
    { echo "run.sh: the sealed backup does not decrypt to the config" >&2; exit 1; }
  sha=$(sha256sum "$WORK/config-$size-$RUNS.json" | cut -d' ' -f1)
  curl_s3 -o /dev/null "$E/$BUCKET/$PREFIX/signed$size/$VERSION/signatures/$sha.sig" ||
    { echo "run.sh: the signed backup has no signature object" >&2; exit 1; }
  curl_s3 -o "$WORK/plain.json" "$E/$BUCKET/$PREFIX/plain$size/$VERSION/config.json"
  cmp -s "$WORK/plain.json" "$WORK/config-$size-$RUNS.json" || { echo "run.sh: the plain backup differs" >&2; exit 1; }
  stop_all
  rm -rf "$WORK/plain" "$WORK/signed" "$WORK/sealed"
  for ((n = 1; n <= IMPORT_RUNS; n++)); do
    order=("${MODES[@]:$((n % 3))}" "${MODES[@]:0:$((n % 3))}")
    for mode in "${order[@]}"; do import_one "$size" "$mode" "$n"; done
  done
  cp "$WORK/config-$size-$RUNS.json" "$WORK/size-$size.json"
  rm -f "$WORK"/config-"$size"-*.json
done

mib() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "### Export with signing, and with signing plus encryption, against the same export with neither (median of $RUNS, ms)"
echo
echo "| config (JSON) | mode | CP push -> object in bucket | ratio to plain | exporter's own time (ms=) | ratio to plain |"
echo "|---|---|---:|---:|---:|---:|"
for size in $SIZES_MIB; do
  pt=$(median <"$WORK/total-plain.$size")
  pe=$(median <"$WORK/export-plain.$size")
  for mode in "${MODES[@]}"; do
    awk -v js="$(mib "$WORK/size-$size.json")" -v m="$mode" -v t="$(median <"$WORK/total-$mode.$size")" \
      -v e="$(median <"$WORK/export-$mode.$size")" -v pt="$pt" -v pe="$pe" 'BEGIN {
        pt = pt > 0 ? pt : 1; pe = pe > 0 ? pe : 1
        printf "| %s | %s | %d | **%.2fx** | %d | %.2fx |\n", js, m, t, t / pt, e, e / pe }'
  done
done
echo
echo "plain: neither signing nor encryption; signed: cluster_fallback_config_signing_key; sealed: signing"
echo "plus cluster_fallback_config_encryption_recipients (one X25519 recipient). Target: at most 1.1x plain."
echo "\"CP push -> object in bucket\" is the CP's \"config sent\" line to the exporter's \"config exported\""
echo "line (ms resolution): transfer, inflate, validation, cache write, then the export. The exporter's own"
echo "time is from the config in hand to the object in the bucket (HEAD, what is left of the encryption"
echo "started alongside the cache write, signature PUT, PUT)."
echo "Each round pushes the same new config to the three exporters one after the other, the order rotating."

echo
echo "### Import of a signed, and of a signed and encrypted, backup against the same import of a plain one (median of $IMPORT_RUNS, ms)"
echo
echo "| config (JSON) | backup | fetching -> applied | ratio to plain |"
echo "|---|---|---:|---:|"
for size in $SIZES_MIB; do
  pi=$(median <"$WORK/import-plain.$size")
  for mode in "${MODES[@]}"; do
    awk -v js="$(mib "$WORK/size-$size.json")" -v m="$mode" -v t="$(median <"$WORK/import-$mode.$size")" \
      -v p="$pi" 'BEGIN { p = p > 0 ? p : 1; printf "| %s | %s | %d | **%.2fx** |\n", js, m, t, t / p }'
  done
done
echo
echo "Each importer is a new \`lifeboat run\` (no cache, its CP unreachable, gateway_handoff = file);"
echo "signed and sealed importers set cluster_fallback_config_trusted_keys, sealed ones also"
echo "cluster_fallback_config_decryption_identity. \"fetching -> applied\" is the importer's \"fetching the"
echo "fallback config\" line to its \"fallback config applied\" line (ms resolution): the GET, the"
echo "SHA-256 of the stored bytes and the signature check, decryption, validation, the cache write and"
echo "the gateway's file. Target: at most 1.1x plain."
