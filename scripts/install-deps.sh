#!/usr/bin/env bash
# Installs everything hookless needs to build and test on Debian 12, from Debian's packages only.
set -euo pipefail
packages=(
  build-essential cmake pkg-config ninja-build lld  # lld links (CMakeLists.txt: HOOKLESS_LINKER)
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libspdlog-dev libfmt-dev libyaml-cpp-dev libssl-dev libsqlite3-dev libsystemd-dev libpq-dev
  libgtest-dev libgmock-dev libcli11-dev libbenchmark-dev
  openssl curl tinyproxy-bin sqlite3
  postgresql-15              # the tests start their own server for the PostgreSQL store
  clang libclang-rt-14-dev   # libFuzzer + sanitizers for scripts/fuzz.sh (tests/fuzz)
  clang-format               # scripts/check-format.sh (.clang-format is written for version 14)
  prometheus                 # test toolchain: monitoring_tests scrape hooklessd with it and run promtool
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The SDK checks (tests/sdk_verify) and the benchmark's peer run the official extend-ai package
# under Node.js: Debian's nodejs and npm unless a Node.js is already installed.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then missing+=(nodejs npm); fi
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
