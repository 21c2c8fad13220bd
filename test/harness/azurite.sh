#!/usr/bin/env bash
# azurite.sh start|stop|env DIR
# Microsoft's Azure Storage emulator, Azurite (npm package `azurite`, pinned with
# @azure/storage-blob in test/azure/peer/package-lock.json and installed there with `npm ci`),
# bound to 127.0.0.1 with its data under DIR. Two blob services:
#   http://127.0.0.1:17500/devstoreaccount1   Shared Key and SAS (AZURITE_PORT)
#   https://127.0.0.1:17501/devstoreaccount1  --oauth basic: Entra ID bearer tokens (AZURITE_TLS_PORT),
#                                             with a certificate for 127.0.0.1 from DIR/tls/ca.crt
# The well-known emulator account devstoreaccount1 and its published key; the test container
# `lifeboat-test` is created with @azure/storage-blob (the independent client). A running
# instance (same ports, answering) is reused, as rgw.sh does.
set -euo pipefail
cmd=${1:?start|stop|env}
D=$(realpath -m "${2:?dir}")
PORT=${AZURITE_PORT:-17500}
TLS_PORT=${AZURITE_TLS_PORT:-17501}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PEER=$(realpath "$HERE/../azure/peer")
ACCOUNT=devstoreaccount1
KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
CONTAINER=${LIFEBOAT_TEST_AZURE_CONTAINER:-lifeboat-test}
CS="DefaultEndpointsProtocol=http;AccountName=$ACCOUNT;AccountKey=$KEY;BlobEndpoint=http://127.0.0.1:$PORT/$ACCOUNT;"

stop() {
  for p in azurite azurite-tls; do
    if [[ -f $D/$p.pid ]]; then
      pid=$(cat "$D/$p.pid"); kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true; rm -f "$D/$p.pid"
    fi
  done
}
up() { curl -s -o /dev/null "$@"; } # any HTTP answer (Azurite answers 400 to a bare GET)

case $cmd in
  stop) if [[ -f $D/borrowed ]]; then rm -f "$D/borrowed"; exit 0; fi; stop; exit 0 ;;
  env) echo "export AZURE_STORAGE_CONNECTION_STRING='$CS' LIFEBOAT_TEST_AZURE_CONTAINER=$CONTAINER"
       echo "# OAuth: https://127.0.0.1:$TLS_PORT/$ACCOUNT with the CA $D/tls/ca.crt"; exit 0 ;;
  start) ;;
  *) echo "usage: azurite.sh start|stop|env DIR" >&2; exit 2 ;;
esac

command -v node > /dev/null || { echo "azurite.sh: node is missing (apt-get install nodejs npm)" >&2; exit 1; }
# The peers, from the committed lock file; reinstalled when the lock file changes.
if [[ ! -x $PEER/node_modules/.bin/azurite-blob || $PEER/package-lock.json -nt $PEER/node_modules/.installed ]]; then
  (cd "$PEER" && npm ci --no-audit --no-fund > /dev/null) || { echo "azurite.sh: npm ci failed in $PEER" >&2; exit 1; }
  touch "$PEER/node_modules/.installed"
fi

TLS_CS="DefaultEndpointsProtocol=https;AccountName=$ACCOUNT;AccountKey=$KEY;BlobEndpoint=https://127.0.0.1:$TLS_PORT/$ACCOUNT;"
create_container() { # the test container in both services, made by Microsoft's SDK
  (cd "$PEER" && AZURE_STORAGE_CONNECTION_STRING="$CS" node sdk.mjs create-container "$CONTAINER") > /dev/null
  (cd "$PEER" && NODE_EXTRA_CA_CERTS="$D/tls/ca.crt" AZURE_STORAGE_CONNECTION_STRING="$TLS_CS" \
    node sdk.mjs create-container "$CONTAINER") > /dev/null
}

if up "http://127.0.0.1:$PORT/" && up --cacert "$D/tls/ca.crt" "https://127.0.0.1:$TLS_PORT/"; then
  if [[ -f $D/azurite.pid ]] && kill -0 "$(cat "$D/azurite.pid")" 2>/dev/null; then
    create_container; echo "azurite.sh: reusing Azurite on 127.0.0.1:$PORT"; exit 0
  fi
fi
if up "http://127.0.0.1:$PORT/" && [[ ! -f $D/azurite.pid ]]; then
  # Another build tree's Azurite on the same port: borrow it, with its CA if it left one for us.
  mkdir -p "$D/tls"; touch "$D/borrowed"
  openssl s_client -connect "127.0.0.1:$TLS_PORT" -showcerts < /dev/null 2> /dev/null |
    awk '/BEGIN CERTIFICATE/ {cert = ""} {cert = cert $0 "\n"} /END CERTIFICATE/ {last = cert} END {printf "%s", last}' > "$D/tls/ca.tmp" || true
  if [[ -s $D/tls/ca.tmp ]]; then mv "$D/tls/ca.tmp" "$D/tls/ca.crt"; else rm -f "$D/tls/ca.tmp"; fi
  create_container; echo "azurite.sh: borrowing the Azurite already on 127.0.0.1:$PORT"; exit 0
fi
stop
rm -rf "$D"; mkdir -p "$D"/{data,data-tls,tls,log}
T=$D/tls
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 -subj "/CN=lifeboat Azurite test CA" \
  -keyout "$T/ca.key" -out "$T/ca.crt" 2> /dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$T/server.key" -out "$T/server.csr" 2> /dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$T/server.ext"
openssl x509 -req -in "$T/server.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial -days 365 \
  -extfile "$T/server.ext" -out "$T/server.crt" 2> /dev/null
cat "$T/server.crt" "$T/ca.crt" > "$T/chain.crt"

BIN=$PEER/node_modules/.bin/azurite-blob
setsid "$BIN" --blobHost 127.0.0.1 --blobPort "$PORT" --location "$D/data" --disableProductStyleUrl \
  --skipApiVersionCheck > "$D/log/azurite.out" 2>&1 < /dev/null & echo $! > "$D/azurite.pid"
setsid "$BIN" --blobHost 127.0.0.1 --blobPort "$TLS_PORT" --location "$D/data-tls" --disableProductStyleUrl \
  --skipApiVersionCheck --oauth basic --cert "$T/chain.crt" --key "$T/server.key" \
  > "$D/log/azurite-tls.out" 2>&1 < /dev/null & echo $! > "$D/azurite-tls.pid"
for _ in $(seq 300); do
  kill -0 "$(cat "$D/azurite.pid")" 2>/dev/null || { echo "azurite.sh: Azurite died:" >&2; tail -n 20 "$D/log/azurite.out" >&2; exit 1; }
  kill -0 "$(cat "$D/azurite-tls.pid")" 2>/dev/null || { echo "azurite.sh: Azurite (TLS) died:" >&2; tail -n 20 "$D/log/azurite-tls.out" >&2; exit 1; }
  if up "http://127.0.0.1:$PORT/" && up --cacert "$T/ca.crt" "https://127.0.0.1:$TLS_PORT/"; then
    create_container; echo "azurite.sh: Azurite up on 127.0.0.1:$PORT (OAuth over HTTPS on $TLS_PORT, CA $T/ca.crt), container $CONTAINER"; exit 0
  fi
  sleep 0.2
done
echo "azurite.sh: Azurite not up after 60 s, see $D/log" >&2; exit 1
