#!/usr/bin/env bash
# Builds and runs tests/consumer against mosaik pulled in with FetchContent.
#
#   run_fetchcontent.sh <mosaik-source-dir> [extra cmake args...]
#
# Registered as the ctest test `consumer.fetchcontent`; the extra arguments
# carry the compiler, flags and launcher of the surrounding build.
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 <mosaik-source-dir> [extra cmake args...]" >&2
  exit 2
fi
source_dir=$(cd "$1" && pwd)
shift

work=$(mktemp -d "${TMPDIR:-/tmp}/mosaik-consumer-fetchcontent.XXXXXX")
trap 'rm -rf "$work"' EXIT

generator=()
if command -v ninja >/dev/null 2>&1; then
  generator=(-G Ninja)
fi

set -x
cmake -S "$source_dir/tests/consumer/fetchcontent" -B "$work/build" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=Release \
  "-DMOSAIK_SOURCE_DIR=$source_dir" \
  "$@"
cmake --build "$work/build" -j2
"$work/build/consumer"
