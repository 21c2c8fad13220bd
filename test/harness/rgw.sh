#!/usr/bin/env bash
# rgw.sh start|stop|env DIR
# A throwaway single-node Ceph cluster (1 mon, 1 bluestore OSD on a sparse file, 1 RGW) bound to
# 127.0.0.1, with the test user and bucket. Everything lives under DIR; nothing in /etc/ceph.
# Recipe: ../shared/research/s3-servers.md. Ports: RGW 17480, mon 16789 (override RGW_PORT, MON_PORT).
# RGW also serves HTTPS on 17443 (RGW_TLS_PORT) with a certificate for 127.0.0.1 from a throwaway
# CA: DIR/tls/ca.crt is the CA to trust (AWS_CA_BUNDLE), for clients that send UNSIGNED-PAYLOAD
# over TLS. Overwritten objects are garbage-collected after 30 s, not RGW's 2 hours: benchmarks
# overwrite 64 MiB objects, and the 10 GiB OSD used to fill up and block every write.
# A second user, lifeboat-readonly (RO_AK/RO_SK below), may only read the test bucket: a bucket
# policy grants it s3:GetObject and s3:ListBucket, nothing else (what an importer needs). An RGW
# borrowed from an older rgw.sh gets that user through the borrowed cluster's own ceph.conf.
set -euo pipefail
cmd=${1:?start|stop|env}
D=$(realpath -m "${2:?dir}") # absolute: the Ceph daemons chdir to /
RGW_PORT=${RGW_PORT:-17480}
MON_PORT=${MON_PORT:-16789}
RGW_TLS_PORT=${RGW_TLS_PORT:-17443}
AK=AKIATESTTESTTEST0001
SK=testsecret0123456789
BUCKET=${LIFEBOAT_TEST_S3_BUCKET:-lifeboat-test}
RO_USER=lifeboat-readonly
RO_AK=AKIATESTREADONLY0001
RO_SK=readonlysecret0123456789

stop() {
  for p in rgw osd mon; do
    if [[ -f $D/$p.pid ]]; then
      kill "$(cat "$D/$p.pid")" 2>/dev/null || true
    fi
  done
  for p in rgw osd mon; do
    if [[ -f $D/$p.pid ]]; then
      pid=$(cat "$D/$p.pid")
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$D/$p.pid"
    fi
  done
}

if [[ $cmd == stop ]]; then
  # An RGW this fixture borrowed belongs to someone else (another build's fixture, a developer's).
  if [[ -f $D/borrowed ]]; then rm -f "$D/borrowed"; exit 0; fi
  stop; rm -rf "$D/osd.0/block.file"; exit 0
fi
if [[ $cmd == env ]]; then
  echo "export LIFEBOAT_TEST_S3_ENDPOINT=http://127.0.0.1:$RGW_PORT LIFEBOAT_TEST_S3_BUCKET=$BUCKET"
  echo "export AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_REGION=us-east-1"
  echo "# read-only: AWS_ACCESS_KEY_ID=$RO_AK AWS_SECRET_ACCESS_KEY=$RO_SK (GetObject and ListBucket on $BUCKET)"
  echo "# TLS: https://127.0.0.1:$RGW_TLS_PORT with AWS_CA_BUNDLE=$D/tls/ca.crt"
  exit 0
fi
[[ $cmd == start ]] || { echo "usage: rgw.sh start|stop|env DIR" >&2; exit 2; }

for tool in ceph-mon ceph-osd radosgw radosgw-admin ceph-authtool monmaptool; do
  command -v $tool >/dev/null || { echo "rgw.sh: $tool is missing: apt-get install ceph-mon ceph-osd radosgw ceph-common" >&2; exit 1; }
done

# An HTTP status from RGW for a request signed by curl (an independent SigV4 signer). curl wants
# the query already sorted and encoded, and `=` after a value-less sub-resource.
s3_status() { local creds=$1; shift
  curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" --user "$creds" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@" || true
}
# The read-only user and its bucket policy, made unless they work already; $1 is the cluster's
# ceph.conf (radosgw-admin talks to the cluster directly). Checked: the user lists and reads, and
# a PUT by it is refused with 403.
read_only_user() { local conf=$1 url="http://127.0.0.1:$RGW_PORT/$BUCKET"
  if [[ $(s3_status "$RO_AK:$RO_SK" "$url?list-type=2&max-keys=1") != 200 ]]; then
    [[ -f $conf ]] || { echo "rgw.sh: no ceph.conf ($conf) to create the read-only user with" >&2; exit 1; }
    radosgw-admin -c "$conf" user info --uid=$RO_USER > /dev/null 2>&1 ||
      radosgw-admin -c "$conf" user create --uid=$RO_USER --display-name="lifeboat read-only" \
        --access-key=$RO_AK --secret-key=$RO_SK > /dev/null
    local policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam:::user/'$RO_USER'"]},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::'$BUCKET'","arn:aws:s3:::'$BUCKET'/*"]}]}'
    local code; code=$(s3_status "$AK:$SK" -X PUT -H 'Content-Type: application/json' --data-binary "$policy" "$url?policy=")
    [[ $code == 200 || $code == 204 ]] || { echo "rgw.sh: could not set the bucket policy on $BUCKET (HTTP $code)" >&2; exit 1; }
  fi
  local code
  for _ in $(seq 50); do # a new user may take a moment to be seen by RGW's cache
    code=$(s3_status "$RO_AK:$RO_SK" "$url?list-type=2&max-keys=1"); [[ $code == 200 ]] && break; sleep 0.2
  done
  [[ $code == 200 ]] || { echo "rgw.sh: the read-only user cannot list $BUCKET (HTTP $code)" >&2; exit 1; }
  code=$(s3_status "$RO_AK:$RO_SK" -X PUT --data-binary x "$url/rgw-sh-read-only-check")
  [[ $code == 403 ]] || { echo "rgw.sh: a PUT by the read-only user got HTTP $code, not 403" >&2; exit 1; }
}
# The ceph.conf of the radosgw serving RGW_PORT (another build tree's fixture): its -c argument.
borrowed_conf() { local pid
  pid=$(ss -Hltnp "sport = :$RGW_PORT" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2)
  [[ -n $pid ]] && tr '\0' '\n' < "/proc/$pid/cmdline" | grep -A1 -x -- -c | tail -n 1
}

# An RGW from an earlier run that still answers is reused (fast local iteration).
if [[ -f $D/rgw.pid ]] && kill -0 "$(cat "$D/rgw.pid")" 2>/dev/null && curl -sf -o /dev/null "http://127.0.0.1:$RGW_PORT/"; then
  read_only_user "$D/ceph.conf"; echo "rgw.sh: reusing RGW on 127.0.0.1:$RGW_PORT"; exit 0
fi
# An RGW started elsewhere (another build tree's fixture, or by hand) on the same port, with the
# test bucket: borrow it rather than fail to bind, and leave it running at stop.
# Its CA is the last certificate it sends: trusted on first use, which is enough on loopback.
if curl -sf -o /dev/null "http://127.0.0.1:$RGW_PORT/$BUCKET" --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD"; then
  mkdir -p "$D/tls"; touch "$D/borrowed"; rm -f "$D/tls/ca.crt"
  openssl s_client -connect "127.0.0.1:$RGW_TLS_PORT" -showcerts < /dev/null 2> /dev/null |
    awk '/BEGIN CERTIFICATE/ {cert = ""} {cert = cert $0 "\n"} /END CERTIFICATE/ {last = cert} END {printf "%s", last}' > "$D/tls/ca.tmp" || true
  if [[ -s $D/tls/ca.tmp ]]; then mv "$D/tls/ca.tmp" "$D/tls/ca.crt"; else rm -f "$D/tls/ca.tmp"
    echo "rgw.sh: the RGW on 127.0.0.1:$RGW_PORT serves no HTTPS on $RGW_TLS_PORT (an older rgw.sh started it): the TLS tests will fail" >&2
  fi
  read_only_user "$(borrowed_conf)"
  echo "rgw.sh: borrowing the RGW already on 127.0.0.1:$RGW_PORT"; exit 0
fi
stop
rm -rf "$D"; mkdir -p "$D"/{run,log,mon.a,osd.0,rgw,tls}
# A CA and a server certificate for 127.0.0.1 and localhost signed by it (a leaf that is not a CA,
# as strict clients want). RGW sends the chain: leaf, then CA.
T=$D/tls
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 -subj "/CN=lifeboat test CA" \
  -keyout "$T/ca.key" -out "$T/ca.crt" 2> /dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$T/rgw.key" -out "$T/rgw.csr" 2> /dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$T/rgw.ext"
openssl x509 -req -in "$T/rgw.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial -days 365 \
  -extfile "$T/rgw.ext" -out "$T/rgw.crt" 2> /dev/null
cat "$T/rgw.crt" "$T/ca.crt" > "$T/rgw-chain.crt"
FSID=$(cat /proc/sys/kernel/random/uuid); K=$D/keyring; C=(-c "$D/ceph.conf")
cat > "$D/ceph.conf" <<CONF
[global]
fsid = $FSID
mon_host = v1:127.0.0.1:$MON_PORT
public_addr = 127.0.0.1
ms_bind_msgr2 = false
auth_allow_insecure_global_id_reclaim = false
run_dir = $D/run
admin_socket = $D/run/\$name.asok
log_file = $D/log/\$name.log
keyring = $K
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_max_pg_per_osd = 1000
osd_crush_chooseleaf_type = 0
mon_data_avail_warn = 2
mon_data_avail_crit = 1
[mon.a]
mon_data = $D/mon.a
[osd.0]
osd_data = $D/osd.0
osd_objectstore = bluestore
bluestore_block_path = $D/osd.0/block.file
bluestore_block_size = 10737418240
bluestore_block_create = true
bluestore_fsck_on_mkfs = false
osd_memory_target = 939524096
[client.rgw.a]
rgw_frontends = beast endpoint=127.0.0.1:$RGW_PORT ssl_endpoint=127.0.0.1:$RGW_TLS_PORT ssl_certificate=$T/rgw-chain.crt ssl_private_key=$T/rgw.key
rgw_data = $D/rgw
rgw_dns_name = localhost
rgw_gc_obj_min_wait = 30
rgw_gc_processor_period = 30
CONF
wait_for() { local n=$1 pf=$2; shift 2
  for _ in $(seq 600); do kill -0 "$(cat "$pf")" 2>/dev/null || { echo "rgw.sh: $n died, see $D/log" >&2; tail -n 20 "$D/log/"*"$n"* >&2 || true; exit 1; }
    "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "rgw.sh: $n not up after 120 s" >&2; exit 1; }
ceph-authtool --create-keyring "$K" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$K" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool "$K" --gen-key -n osd.0 --cap mon 'allow profile osd' --cap mgr 'allow profile osd' --cap osd 'allow *' >/dev/null
ceph-authtool "$K" --gen-key -n client.rgw.a --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw' >/dev/null
# --addv with an explicit v1 address: for a port other than 6789, --add would assume msgr v2,
# which the v1-only mon_host above cannot reach.
monmaptool --create --addv a "[v1:127.0.0.1:$MON_PORT]" --fsid "$FSID" "$D/monmap" >/dev/null
ceph-mon "${C[@]}" -i a --mkfs --monmap "$D/monmap" --keyring "$K"
setsid ceph-mon "${C[@]}" -i a -f > "$D/log/mon.out" 2>&1 < /dev/null & echo $! > "$D/mon.pid"
wait_for mon "$D/mon.pid" ceph "${C[@]}" --connect-timeout 5 mon stat
OSDUUID=$(cat /proc/sys/kernel/random/uuid); ID=$(ceph "${C[@]}" osd new "$OSDUUID")
ceph-osd "${C[@]}" -i "$ID" --mkfs --osd-uuid "$OSDUUID" > "$D/log/osd.mkfs.out" 2>&1
setsid ceph-osd "${C[@]}" -i "$ID" -f > "$D/log/osd.out" 2>&1 < /dev/null & echo $! > "$D/osd.pid"
wait_for osd "$D/osd.pid" sh -c "ceph ${C[*]} osd stat | grep -q '1 up'"
setsid radosgw "${C[@]}" -n client.rgw.a -f > "$D/log/rgw.out" 2>&1 < /dev/null & echo $! > "$D/rgw.pid"
wait_for rgw "$D/rgw.pid" curl -sf -o /dev/null "http://127.0.0.1:$RGW_PORT/"
wait_for rgw "$D/rgw.pid" curl -sf -o /dev/null --cacert "$T/ca.crt" "https://127.0.0.1:$RGW_TLS_PORT/"
radosgw-admin "${C[@]}" user create --uid=test --display-name=test --access-key=$AK --secret-key=$SK > "$D/user.json"
# The test bucket, made with curl's own SigV4 signer (an independent client).
for _ in $(seq 50); do
  code=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -X PUT "http://127.0.0.1:$RGW_PORT/$BUCKET") || true
  [[ $code == 200 || $code == 409 ]] && break; sleep 0.2
done
[[ $code == 200 || $code == 409 ]] || { echo "rgw.sh: could not create bucket $BUCKET (HTTP $code)" >&2; exit 1; }
read_only_user "$D/ceph.conf"
echo "rgw.sh: RGW up on 127.0.0.1:$RGW_PORT (HTTPS on $RGW_TLS_PORT, CA $T/ca.crt), bucket $BUCKET"
