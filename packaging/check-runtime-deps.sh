#!/usr/bin/env bash
# check-runtime-deps.sh [BINARY]: checks that the runtime stage of packaging/Dockerfile installs
# every Debian package that provides a shared library BINARY links (ldd), and reports packages
# that provide nothing it links. Run it on Debian 12 against a local build (default:
# build/release/cli/lifeboat). Exit 1 when a library is not covered or a package is unknown.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../build/release/cli/lifeboat}
[[ -x $bin ]] || { echo "check-runtime-deps: $bin is not an executable (build it first)" >&2; exit 1; }

# The list as the Dockerfile declares it (ARG RUNTIME_PACKAGES="...").
listed=$(sed -n 's/^ARG RUNTIME_PACKAGES="\(.*\)"$/\1/p' "$here/Dockerfile")
[[ -n $listed ]] || { echo "check-runtime-deps: no ARG RUNTIME_PACKAGES line in the Dockerfile" >&2; exit 1; }
# Packages there for another reason than ldd.
not_from_ldd=(ca-certificates)

status=0
declare -A needed=()
while read -r lib path; do
  if [[ $path == "not" ]]; then
    echo "MISSING  $lib is not found on this machine"; status=1; continue
  fi
  # dpkg knows the path the package shipped (merged /usr: try the resolved path too).
  owner=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$(readlink -f "$path")" 2>/dev/null || true)
  pkg=${owner%%:*}
  if [[ -z $pkg ]]; then
    echo "UNOWNED  $lib ($path) belongs to no Debian package"; status=1; continue
  fi
  needed[$pkg]=1
  if [[ " $listed " == *" $pkg "* ]]; then
    echo "ok       $lib <- $pkg"
  else
    echo "MISSING  $lib <- $pkg is not in RUNTIME_PACKAGES"; status=1
  fi
done < <(ldd "$bin" | awk '/=>/ {print $1, $3; next} /ld-linux/ {print $1, $1}')

for pkg in $listed; do
  if [[ -z ${needed[$pkg]:-} && " ${not_from_ldd[*]} " != *" $pkg "* ]]; then
    # Not fatal: an unneeded package costs only image size (and a build that does not link a
    # library yet, e.g. before the control-plane session lands, would otherwise fail the check).
    echo "EXTRA    $pkg is installed but provides no library this binary links (not an error)"
  fi
  if ! apt-cache show --no-all-versions "$pkg" >/dev/null 2>&1; then
    echo "UNKNOWN  $pkg is not a package apt knows"; status=1
  fi
done
((status == 0)) && echo "every linked library is provided by RUNTIME_PACKAGES: $listed"
exit $status
