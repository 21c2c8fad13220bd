#!/usr/bin/env bash
# check.sh MANIFEST_DIR: installs the validator's npm packages (from package-lock.json, once) and
# validates the Kubernetes manifests and Helm values (validate.mjs says what is and is not checked).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
command -v node >/dev/null || { echo "check.sh: node is missing (apt-get install nodejs npm)" >&2; exit 1; }
if ! cmp -s package-lock.json node_modules/.lifeboat-installed-lock.json 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error >&2
  cp package-lock.json node_modules/.lifeboat-installed-lock.json
fi
exec node validate.mjs "$1"
