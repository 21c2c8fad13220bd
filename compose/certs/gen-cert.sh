#!/bin/sh
# The shared-mode cluster certificate, as `kong hybrid gen_cert` makes it: an EC P-384 key and a
# self-signed certificate, CN=kong_clustering, valid 1095 days. Made once; kept in the `certs`
# volume. The key is root:$CLUSTER_CERT_GID 0640: only the services given that group read it.
set -eu
cd /certs
if [ ! -s cluster.crt ] || [ ! -s cluster.key ]; then
  apk add --no-cache openssl >/dev/null
  umask 077
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:secp384r1 -nodes \
    -keyout cluster.key -out cluster.crt -days 1095 -subj "/CN=kong_clustering"
  echo "certs: made cluster.crt and cluster.key"
else
  echo "certs: cluster.crt and cluster.key already exist"
fi
chown "0:${CLUSTER_CERT_GID}" cluster.crt cluster.key
chmod 0644 cluster.crt
chmod 0640 cluster.key
