# shellcheck shell=bash
# Helpers shared by mosaik's scripts. Source it, don't run it:
#   source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
#
#   mosaik_install_deps           installs the Debian packages mosaik needs (only the missing ones)
#   mosaik_build [preset] [args]  configures with a CMake preset (default: default) and builds it
#                                 with -j2; extra args go to `cmake --build` (e.g. --target foo)
#   MOSAIK_ROOT                   the repository root

MOSAIK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export MOSAIK_ROOT

MOSAIK_DEB_PACKAGES=(
  build-essential
  cmake
  ninja-build
  libasio-dev
  libfmt-dev
  libspdlog-dev
  libcli11-dev
  nlohmann-json3-dev
  catch2
  libbenchmark-dev
  gnuplot-nox
  git
  pkg-config
  libsodium-dev
  libssl-dev
  iproute2
  jq
  openssl
  clang
  libclang-rt-14-dev
  ccache
)

mosaik_log() { printf '==> %s\n' "$*" >&2; }

# Runs a command as root: directly when root, through sudo when available.
mosaik_as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    mosaik_log "need root to run: $* (no sudo found)"
    return 1
  fi
}

mosaik_install_deps() {
  if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    mosaik_log "not a Debian-like system; install these yourself: ${MOSAIK_DEB_PACKAGES[*]}"
    return 0
  fi
  local missing=() package
  for package in "${MOSAIK_DEB_PACKAGES[@]}"; do
    if [[ $(dpkg-query -W -f='${Status}' "$package" 2>/dev/null) != "install ok installed" ]]; then
      missing+=("$package")
    fi
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    return 0
  fi
  mosaik_log "installing: ${missing[*]}"
  mosaik_as_root env DEBIAN_FRONTEND=noninteractive apt-get update
  mosaik_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

mosaik_build() {
  local preset=${1:-default}
  if [[ $# -gt 0 ]]; then
    shift
  fi
  local configure_args=()
  if command -v ccache >/dev/null 2>&1; then
    configure_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    # Paths below the checkout are hashed relative to it, so that every clone
    # of the repository (a CI checkout, a worktree) shares one cache.
    # (The working directory is left out of the hash too: -g would add it.)
    export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$MOSAIK_ROOT}
    export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
    # Lets ccache cache translation units that use the test precompiled header.
    export CCACHE_SLOPPINESS=${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}
  fi
  mosaik_log "configuring preset '$preset'"
  (cd "$MOSAIK_ROOT" && cmake --preset "$preset" "${configure_args[@]}")
  mosaik_log "building preset '$preset'"
  (cd "$MOSAIK_ROOT" && cmake --build --preset "$preset" -j2 "$@")
}
