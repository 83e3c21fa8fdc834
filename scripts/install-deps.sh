#!/usr/bin/env bash
# Installs what hookless needs on Debian 12, from Debian's packages only.
#   install-deps.sh           what building and running need (scripts/build.sh, scripts/demo.sh)
#   install-deps.sh --tests   that, and the test toolchain (scripts/test.sh)
set -euo pipefail
with_tests=0
case ${1:-} in
  "") ;;
  --tests) with_tests=1 ;;
  *) echo "usage: $0 [--tests]" >&2; exit 2 ;;
esac

# Building and running hooklessd, hooklessctl, their man pages and the bundled Extend simulator.
build_packages=(
  build-essential cmake pkg-config ninja-build lld  # lld links (CMakeLists.txt: HOOKLESS_LINKER)
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libspdlog-dev libfmt-dev libyaml-cpp-dev libssl-dev libsqlite3-dev libsystemd-dev libpq-dev
  libcli11-dev
  scdoc                      # the man pages in man/ (HOOKLESS_MAN_PAGES, on by default)
  ca-certificates            # hooklessd trusts the system store for Extend
)

# Only the test command needs these (scripts/test.sh, the ctest suite, scripts/fuzz.sh).
test_packages=(
  libgtest-dev libgmock-dev  # the test programs (tests/)
  libbenchmark-dev           # bench/ (HOOKLESS_BUILD_BENCH), built and smoke-run by the suite
  openssl curl tinyproxy-bin sqlite3
  postgresql-15              # the tests start their own server for the PostgreSQL store
  clang libclang-rt-14-dev   # libFuzzer + sanitizers for scripts/fuzz.sh (tests/fuzz)
  clang-format               # scripts/check-format.sh (.clang-format is written for version 14)
  systemd                    # systemd-analyze, systemd-socket-activate, systemd-sysusers, systemd-tmpfiles
                             # (the service and packaging tests)
  python3                    # the Python example's test (tests/blackbox/examples_test.sh)
  dpkg-dev                   # cpack's .deb with its shared-library dependencies (deb_install test)
  man-db groff-base          # `man -l` renders the man pages (man_pages test)
  bash zsh fish              # hooklessctl's completion scripts, run by tests/blackbox/ctl_test.cpp
  prometheus                 # monitoring_tests scrape hooklessd with it and run promtool
  redis-server               # redis_sink_blackbox_tests start their own server (redis-cli comes with it)
)

packages=("${build_packages[@]}")
((with_tests)) && packages+=("${test_packages[@]}")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The SDK checks (tests/sdk_verify), the Node.js example's test (examples/node) and the benchmark's
# peer run the official extend-ai package under Node.js: Debian's nodejs and npm unless a Node.js
# is already installed.
if ((with_tests)) && { ! command -v node >/dev/null || ! command -v npm >/dev/null; }; then missing+=(nodejs npm); fi
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
