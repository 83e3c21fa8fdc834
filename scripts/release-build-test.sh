#!/usr/bin/env bash
# Builds hookless_core (every source file but the programs' mains) as a user would: the Release
# type with the default options, so warnings are not errors. g++ 12 at -O3 reports false warnings
# inside libstdc++ (GCC PR 105329); this keeps them from ever failing a user's build again.
# Only the library, to keep CI short; the whole tree builds the same way.
#   release-build-test.sh SOURCE_DIR WORK_DIR [COMPILER_LAUNCHER]
set -euo pipefail
source_dir=$1 work=$2 launcher=${3:-}
cmake -S "$source_dir" -B "$work" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
  ${launcher:+"-DCMAKE_CXX_COMPILER_LAUNCHER=$launcher"} >/dev/null
cmake --build "$work" -j 2 --target hookless_core
