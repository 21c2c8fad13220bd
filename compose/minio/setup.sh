#!/bin/sh
# One-shot MinIO setup: the bucket, and two users with the least privilege each role needs
# (docs/iam-policies.md has the same policies for AWS):
#   exporter: list the bucket; read, write and delete objects under the prefix (config.json, election/)
#   importer: list the bucket; read <prefix>/<version>/config.json; nothing else
# ListBucket has no s3:prefix condition on purpose: S3 answers a missing object with 404 only to
# callers that may list the bucket, and an exporter's first upload needs that 404
# (docs/iam-policies.md, "Why s3:ListBucket on the whole bucket").
# Safe to run again.
set -eu
mc alias set demo http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing "demo/$BUCKET"

cat > /tmp/exporter.json <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "ListTheBucket",
      "Effect": "Allow",
      "Action": ["s3:ListBucket"],
      "Resource": ["arn:aws:s3:::$BUCKET"]
    },
    {
      "Sid": "ReadWriteUnderThePrefix",
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
      "Resource": ["arn:aws:s3:::$BUCKET/$PREFIX/*"]
    }
  ]
}
JSON
cat > /tmp/importer.json <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "ListTheBucket",
      "Effect": "Allow",
      "Action": ["s3:ListBucket"],
      "Resource": ["arn:aws:s3:::$BUCKET"]
    },
    {
      "Sid": "ReadTheBackup",
      "Effect": "Allow",
      "Action": ["s3:GetObject"],
      "Resource": ["arn:aws:s3:::$BUCKET/$PREFIX/*/config.json"]
    }
  ]
}
JSON
# `policy create` replaces a policy of the same name, so edits here take effect on the next run.
mc admin policy create demo lifeboat-exporter /tmp/exporter.json
mc admin policy create demo lifeboat-importer /tmp/importer.json
mc admin user add demo "$EXPORTER_ACCESS_KEY" "$EXPORTER_SECRET_KEY"
mc admin user add demo "$IMPORTER_ACCESS_KEY" "$IMPORTER_SECRET_KEY"
# attach fails when the policy is already attached (a second run): check the result instead
# (with the shell alone: the mc image has no grep).
attach() { # policy user
  mc admin policy attach demo "$1" --user "$2" >/dev/null 2>&1 || true
  case "$(mc admin user info demo "$2")" in
    *"$1"*) ;;
    *) echo "minio-setup: policy $1 is not attached to $2" >&2; exit 1 ;;
  esac
}
attach lifeboat-exporter "$EXPORTER_ACCESS_KEY"
attach lifeboat-importer "$IMPORTER_ACCESS_KEY"
echo "minio-setup: bucket $BUCKET, users $EXPORTER_ACCESS_KEY (read-write $PREFIX/*) and $IMPORTER_ACCESS_KEY (read-only $PREFIX/*/config.json)"
