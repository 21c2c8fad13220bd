#!/usr/bin/env bash
# check-layers.sh [SOURCE_DIR]: checks that the dependency arrows between the parts run one way
# (docs/architecture.md, "Parts and libraries"): cli -> agent -> election -> backends; agent ->
# protocol, crypto; everything -> base. It reads the sources' #include lines, which is what the
# link lines must follow too; prints one line per include pointing the wrong way, and exits 1.
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"

# The parts each part's files may include (its own always).
declare -A allowed=(
  [base]=""
  [crypto]="base"
  [protocol]="base"
  [backends]="base"
  [election]="base backends"
  [agent]="base crypto protocol backends election"
  [cli]="base crypto protocol backends election agent"
)
# The store interface (the lifeboat_store library).
interface='backends/(object_store|layout|store_environment|backup_signature|probe)\.hpp'

status=0
fail() {
  echo "$1 includes $2: $3"
  status=1
}
while IFS= read -r line; do
  file=${line%%:*}
  target=$(sed -E 's/^[^"]*"([^"]+)".*/\1/' <<<"$line")
  part=${file%%/*}
  to=${target%%/*}
  [[ $target == */* && -n ${allowed[$to]+x} ]] || continue # a system or generated header
  if [[ $to != "$part" && " ${allowed[$part]} " != *" $to "* ]]; then
    fail "$file" "$target" "$part must not depend on $to"
  elif [[ $part == election && $to == backends && ! $target =~ ^$interface$ ]]; then
    fail "$file" "$target" "the election links only the store interface (lifeboat_store)"
  elif [[ $file =~ ^backends/(object_store|layout|store_environment|backup_signature|probe)\. &&
          $to == backends && ! $target =~ ^$interface$ ]]; then
    fail "$file" "$target" "the store interface depends on no store and no HTTP client"
  elif [[ $file == backends/http/* && $to == backends && ! $target =~ ^(backends/http/|$interface) ]]; then
    fail "$file" "$target" "the HTTP client depends on no store"
  elif [[ $file == protocol/* && $file != protocol/reference_cp.* && $target == protocol/reference_cp.hpp ]]; then
    fail "$file" "$target" "the protocol library does not carry the reference CP (a test peer)"
  fi
done < <(grep -rHE '^#include "' base crypto protocol backends election agent cli --include='*.cpp' --include='*.hpp')
((status == 0)) && echo "check-layers: every include follows the arrows"
exit $status
