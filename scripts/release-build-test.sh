#!/usr/bin/env bash
# Builds part of hookless_core as a user would: the Release type with the default options, so
# warnings are not errors. g++ 12 at -O3 reports false warnings inside libstdc++ (GCC PR 105329:
# a -Wrestrict in core/formats/sink_target.cpp and core/delivery/webhook_signature.cpp); this keeps
# them from ever failing a user's build again. Only the library's pure folders (formats/, model/),
# which hold such a file, to keep CI short: the rest builds with the same flags. One object per
# source (unity builds off) so those folders can be built alone; a unity build compiles the same code.
#   release-build-test.sh SOURCE_DIR WORK_DIR [COMPILER_LAUNCHER]
set -euo pipefail
source_dir=$1 work=$2 launcher=${3:-}
cmake -S "$source_dir" -B "$work" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DHOOKLESS_UNITY_BUILD=OFF \
  ${launcher:+"-DCMAKE_CXX_COMPILER_LAUNCHER=$launcher"} >/dev/null
mapfile -t objects < <(ninja -C "$work" -t targets all |
  grep -o '^core/CMakeFiles/hookless_core\.dir/\(formats\|model\)/[a-z_]*\.cpp\.o' | sort -u)
((${#objects[@]} > 0)) || { echo "no objects of core/formats or core/model in $work" >&2; exit 1; }
ninja -C "$work" -j 2 "${objects[@]}"
