#!/usr/bin/env bash
# Installs an already-built mosaik build tree into a temporary prefix, then
# builds and runs tests/consumer against it with find_package(mosaik).
#
#   run_find_package.sh <mosaik-build-dir> <mosaik-source-dir> [config] [extra cmake args...]
#
# Registered as the ctest test `consumer.find_package`; <config> is the
# configuration to install (may be empty for single-config generators), the
# extra arguments carry the compiler, flags and launcher of that build.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 <mosaik-build-dir> <mosaik-source-dir> [config] [extra cmake args...]" >&2
  exit 2
fi
build_dir=$(cd "$1" && pwd)
source_dir=$(cd "$2" && pwd)
config=${3:-}
shift $(($# >= 3 ? 3 : 2))

work=$(mktemp -d "${TMPDIR:-/tmp}/mosaik-consumer-find-package.XXXXXX")
trap 'rm -rf "$work"' EXIT

generator=()
if command -v ninja >/dev/null 2>&1; then
  generator=(-G Ninja)
fi
config_args=()
if [[ -n "$config" ]]; then
  config_args=(--config "$config")
fi

set -x
cmake --install "$build_dir" --prefix "$work/prefix" "${config_args[@]}"
cmake -S "$source_dir/tests/consumer/find_package" -B "$work/build" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=Release \
  "-DCMAKE_PREFIX_PATH=$work/prefix" \
  -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON \
  "$@"
cmake --build "$work/build" -j2
"$work/build/consumer"
