# Warnings for hookless's own targets (not for Boost's headers, which are system includes).
# -Wmismatched-new-delete is off: g++ 12 at -O2 reports Asio's awaitable frame allocator (a
# recycling operator new/delete pair) as mismatched, a known false positive.
function(hookless_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
    -Wold-style-cast -Woverloaded-virtual -Wimplicit-fallthrough -Wno-mismatched-new-delete -Werror)
endfunction()
