#!/usr/bin/env bash
# Builds the libFuzzer targets (preset `fuzz`: clang, ASan + UBSan) and runs
# each on a scratch copy of its seed corpus (tests/fuzz/corpus/<target>) for
# SECONDS (default 60). A crash stops with the reproducer's path and status 1.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     targets: wire session file-log handshake
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

seconds=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(wire session file-log handshake)

mosaik_install_deps
mosaik_build fuzz
work=$(mktemp -d "${TMPDIR:-/tmp}/mosaik-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
for target in "${targets[@]}"; do
  bin=$MOSAIK_ROOT/build/fuzz/tests/fuzz/mosaik-fuzz-$target
  corpus=$work/$target
  mkdir -p "$corpus" "$work/artifacts-$target"
  cp -r "$MOSAIK_ROOT/tests/fuzz/corpus/$target/." "$corpus/" 2>/dev/null || true
  mosaik_log "fuzzing $target for ${seconds}s ($(find "$corpus" -type f | wc -l) seed inputs)"
  if ! "$bin" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts-$target/" "$corpus" >"$work/$target.log" 2>&1; then
    tail -n 40 "$work/$target.log" >&2
    mkdir -p "$MOSAIK_ROOT/build/fuzz/crashes"
    cp "$work/artifacts-$target/"* "$MOSAIK_ROOT/build/fuzz/crashes/" 2>/dev/null || true
    mosaik_log "fuzz target $target failed; reproducer(s) in build/fuzz/crashes/"
    exit 1
  fi
  runs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$work/$target.log" | grep -o '[0-9]*$' || echo "?")
  mosaik_log "$target: $runs executions, no crash"
done
