#!/usr/bin/env bash
# Times the compilation of a one-file user program that includes group.hpp
# (bench/compile_time/user_group.cpp), at -O0 and -O3, several rounds; prints
# min and median seconds and peak memory. Run it on a quiet machine.
#   bench/compile_time.sh [ROUNDS]        (default 3)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=${1:-3}
cxx=${CXX:-g++}
flags=(-std=c++20 -I"$root/include" -DASIO_SEPARATE_COMPILATION -DASIO_NO_DEPRECATED -DASIO_HAS_STD_ALIGNED_ALLOC=1
       -Wall -Wextra -c "$root/bench/compile_time/user_group.cpp" -o /dev/null)
for level in -O0 -O3; do
  times=()
  peak=0
  for ((i = 0; i < rounds; ++i)); do
    out=$( { /usr/bin/time -f '%e %M' "$cxx" "$level" "${flags[@]}"; } 2>&1 | tail -n 1)
    times+=("${out% *}")
    kb=${out#* }
    ((kb > peak)) && peak=$kb
  done
  sorted=$(printf '%s\n' "${times[@]}" | sort -n)
  min=$(head -n 1 <<<"$sorted")
  median=$(sed -n "$(((rounds + 1) / 2))p" <<<"$sorted")
  printf '%s: min %s s, median %s s over %d rounds, peak %d MiB (%s)\n' "$level" "$min" "$median" "$rounds" \
    "$((peak / 1024))" "$("$cxx" --version | head -n 1)"
done
