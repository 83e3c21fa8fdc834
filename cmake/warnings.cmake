# Warnings for hookless's own targets (not for Boost's headers, which are system includes).
# -Wmismatched-new-delete is off: g++ 12 at -O2 reports Asio's awaitable frame allocator (a
# recycling operator new/delete pair) as mismatched, a known false positive.
#
# -Werror only when asked (HOOKLESS_WERROR: the presets, scripts/build.sh and CI turn it on). A
# user's build must not fail on a warning a newer or older compiler invents: g++ 12 at -O3 (the
# Release type) gives false -Wrestrict / -Warray-bounds / -Wstringop-overflow warnings inside
# libstdc++ (GCC PR 105329), which would stop a plain `cmake -DCMAKE_BUILD_TYPE=Release` build.
option(HOOKLESS_WERROR "Treat compiler warnings as errors (for developers and CI)" OFF)

function(hookless_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
    -Wold-style-cast -Woverloaded-virtual -Wimplicit-fallthrough -Wno-mismatched-new-delete
    $<$<BOOL:${HOOKLESS_WERROR}>:-Werror>)
endfunction()
