#!/usr/bin/env bash
# bench/azure/run.sh BUILD_DIR
# Uploads and downloads one random blob (64 MiB; SIZE_MIB to change) to Microsoft's Azurite (the
# tests' emulator, test/harness/azurite.sh, HTTP on 127.0.0.1:17500) with lifeboat (the shipped
# binary: `lifeboat storage put|get azure://...`), curl with a SAS URL, and Microsoft's
# @azure/storage-blob in node (test/azure/peer/sdk.mjs upload-file|download-file, the SDK's own
# streamed file transfers), interleaved (the order rotating each round), RUNS times each
# (default 5), and prints markdown tables: median wall time of the whole client process, its
# ratio to curl's, and the client's peak RSS. Every download is compared with the original.
# Builds nothing. Starts Azurite when none answers on 127.0.0.1:17500, and stops it afterwards.
#
# What each client does, over plain HTTP (no TLS on either side):
#   lifeboat      Shared Key (connection string); every Put Blob / Put Block carries its
#                 Content-MD5, which Azurite checks (the MD5 is computed by lifeboat, in the
#                 timed run); downloads are crash-safe: temporary file, MD5 checked, fsync, rename.
#   lifeboat-sas  the same with the container SAS curl uses (AZURE_STORAGE_SAS_TOKEN).
#   curl          one Put Blob with the SAS URL, no checksum; downloads written in place, no fsync.
#   curl-md5      lifeboat's upload work with stock tools: `openssl md5` of the file (timed),
#                 then curl sends it as Content-MD5, which Azurite checks.
#   curl+fsync    curl's download, then `sync FILE`: the baseline of a durable download.
# Every download reads the same blob, curl's upload.
#   sdk           @azure/storage-blob's uploadFile / downloadToFile with the connection string.
set -euo pipefail
BUILD=$(realpath "${1:?usage: run.sh BUILD_DIR}")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$BUILD/cli/lifeboat
PEER=$ROOT/test/azure/peer
RUNS=${RUNS:-5}
SIZE_MIB=${SIZE_MIB:-64}
AZURITE_DIR=$BUILD/test-work/azurite
ACCOUNT=devstoreaccount1
KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' # the emulator's published key
E=http://127.0.0.1:17500/$ACCOUNT
CONTAINER=lifeboat-test
CS="DefaultEndpointsProtocol=http;AccountName=$ACCOUNT;AccountKey=$KEY;BlobEndpoint=$E;"

lifeboat_az() { env -i PATH="$PATH" HOME="$WORK" AZURE_STORAGE_CONNECTION_STRING="$CS" "$BIN" storage "$@"; }
lifeboat_sas() { # the SAS as a connection string names it: the endpoint and the token, no key
  env -i PATH="$PATH" HOME="$WORK" AZURE_STORAGE_CONNECTION_STRING="BlobEndpoint=$E;SharedAccessSignature=$SAS" \
    "$BIN" storage "$@"
}
sdk() { (cd "$PEER" && AZURE_STORAGE_CONNECTION_STRING="$CS" node sdk.mjs "$@"); }
url() { echo "azure://$ACCOUNT/$CONTAINER/$1"; }
blob() { echo "$E/$CONTAINER/$1?$SAS"; }
up() { # client key  (reads $WORK/in.bin)
  case $1 in
    lifeboat) lifeboat_az put "$(url "$2")" "$WORK/in.bin" ;;
    lifeboat-sas) lifeboat_sas put "$(url "$2")" "$WORK/in.bin" ;;
    curl) curl -sSf -T "$WORK/in.bin" -H 'x-ms-blob-type: BlockBlob' "$(blob "$2")" -o /dev/null ;;
    curl-md5)
      curl -sSf -T "$WORK/in.bin" -H 'x-ms-blob-type: BlockBlob' \
        -H "Content-MD5: $(openssl md5 -binary "$WORK/in.bin" | base64)" "$(blob "$2")" -o /dev/null ;;
    sdk) sdk upload-file "$CONTAINER" "$2" "$WORK/in.bin" ;;
  esac
}
down() { # client key  (writes $WORK/out.bin)
  case $1 in
    lifeboat) lifeboat_az get "$(url "$2")" "$WORK/out.bin" ;;
    lifeboat-sas) lifeboat_sas get "$(url "$2")" "$WORK/out.bin" ;;
    curl) curl -sSf -o "$WORK/out.bin" "$(blob "$2")" ;;
    curl+fsync) curl -sSf -o "$WORK/out.bin" "$(blob "$2")" && sync "$WORK/out.bin" ;;
    sdk) sdk download-file "$CONTAINER" "$2" "$WORK/out.bin" ;;
  esac
}

# Internal: run.sh BUILD --one up|down CLIENT KEY, one transfer timed by the parent.
if [[ ${2:-} == --one ]]; then
  "$3" "$4" "$5"
  exit
fi

[[ -x $BIN ]] || { echo "run.sh: $BIN is missing; build the lifeboat target" >&2; exit 1; }
for tool in curl node /usr/bin/time cmp openssl base64; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing" >&2; exit 1; }
done
started_azurite=0
if ! curl -s -o /dev/null "http://127.0.0.1:17500/"; then started_azurite=1; fi
# Starts one (npm ci of test/azure/peer on first use), or borrows the one that answers.
"$ROOT/test/harness/azurite.sh" start "$AZURITE_DIR" >&2
export WORK SAS=
WORK=$(mktemp -d /tmp/lifeboat-azure-bench.XXXXXX)
PREFIX=bench/$(date +%s)-$$
UP_CLIENTS=(lifeboat curl curl-md5 sdk lifeboat-sas)
DOWN_CLIENTS=(lifeboat curl curl+fsync sdk lifeboat-sas)
cleanup() {
  for client in "${UP_CLIENTS[@]}"; do
    for k in "$PREFIX/$client.bin" "$PREFIX/warm-$client"; do curl -s -X DELETE "$(blob "$k")" -o /dev/null || true; done
  done
  rm -rf "$WORK"
  if [[ $started_azurite == 1 ]]; then "$ROOT/test/harness/azurite.sh" stop "$AZURITE_DIR" >&2 || true; fi
}
trap cleanup EXIT
SAS=$(sdk sas "$CONTAINER" racwdl) # a container SAS with every permission curl and lifeboat-sas need
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
# Every client downloads the same blob (curl's one Put Blob; Azurite stores its MD5, so
# lifeboat checks it): the same bytes in the same layout on Azurite's side.
source_of() { echo curl; }

for client in "${UP_CLIENTS[@]}"; do up "$client" "$PREFIX/warm-$client" > /dev/null 2>&1; done # warm caches
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
# row NAME UP_CLIENT DOWN_CLIENT
row() {
  awk -v c="$1" -v u="$(ms "$2" up)" -v d="$(ms "$3" down)" -v bu="$(ms curl up)" -v bd="$(ms curl down)" \
      -v ru="$(rss "$2" up)" -v rd="$(rss "$3" down)" -v obj="$SIZE_MIB" 'BEGIN {
    us = u == "" ? "—" : sprintf("%.3f", u/1000); ur = u == "" ? "—" : sprintf("%.2f", u/bu)
    ds = d == "" ? "—" : sprintf("%.3f", d/1000); dr = d == "" ? "—" : sprintf("%.2f", d/bd)
    rus = ru == "" ? "—" : sprintf("%.1f", ru/1024); rds = rd == "" ? "—" : sprintf("%.1f", rd/1024)
    printf "| %s | %s | %s | %s | %s | %s | %s |\n", c, us, ur, ds, dr, rus, rds }'
}
ratio() { awk -v a="$(ms "$1" "$3")" -v b="$(ms "$2" "$3")" 'BEGIN { printf "| %.3f | %.3f | **%.2f** |", a/1000, b/1000, a/b }'; }

echo "### Azure: ${SIZE_MIB} MiB upload and download, Azurite on loopback (median of $RUNS)"
echo
echo "| client | upload s | vs curl | download s | vs curl | peak RSS up MiB | peak RSS down MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|"
row "lifeboat (Shared Key)" lifeboat lifeboat
row "lifeboat (SAS)" lifeboat-sas lifeboat-sas
row "curl (SAS URL)" curl curl
row "openssl md5 + curl (SAS URL)" curl-md5 -
row "curl + fsync (SAS URL)" - curl+fsync
row "@azure/storage-blob (node)" sdk sdk
echo
echo "The same work side by side:"
echo
echo "| comparison | lifeboat s | baseline s | ratio |"
echo "|---|---:|---:|---:|"
echo "| upload, SAS: lifeboat (Content-MD5 per request) / curl (no checksum) $(ratio lifeboat-sas curl up)"
echo "| upload, checked by the service: lifeboat / openssl md5 + curl $(ratio lifeboat curl-md5 up)"
echo "| download, durable: lifeboat (temporary file, MD5 checked, fsync, rename) / curl + fsync $(ratio lifeboat curl+fsync down)"
echo "| upload: lifeboat / @azure/storage-blob $(ratio lifeboat sdk up)"
echo "| download: lifeboat / @azure/storage-blob $(ratio lifeboat sdk down)"
echo
echo "Wall time of the whole client process, start-up included (node's own start-up is in the SDK's"
echo "figures); below 1.00 is faster than the baseline. The object is ${SIZE_MIB} MiB; peak RSS is the"
echo "largest process of the client's tree (/usr/bin/time %M). Azurite itself (node, writing its blobs"
echo "to disk, with an fdatasync per request) bounds every client alike. lifeboat sends a blob up to"
echo "256 MiB, as curl does, in one Put Blob, with its Content-MD5 (hashed on a pool thread before the"
echo "request: Azure reads it from the header); larger blobs go up as Put Blocks of 8 MiB, two in"
echo "flight, each hashed while the other is sent. Every client downloads the same blob (curl's upload); the"
echo "SDK's downloadToFile writes in place without fsync, as curl does."
