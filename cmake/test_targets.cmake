# How test programs are declared. Each gtest program gets the project's warnings, GoogleTest's
# main and its tests discovered into ctest with exactly one tier label, so `ctest -L <tier>` runs a
# tier (the README's "Tests" section):
#   unit         pure logic, no sockets, processes or sleeps: the whole tier runs in seconds
#   integration  in-process I/O on 127.0.0.1 and Unix sockets in temp dirs, against fakes
#   blackbox     the built hooklessd and hooklessctl run as child processes, as a user would
#   fuzz         the fuzz targets replaying their corpora plus mutants (tests/fuzz)
#   slow         whole builds, packages, the container image and the benchmark's smoke run
set(HOOKLESS_TEST_TIERS unit integration blackbox fuzz slow CACHE INTERNAL "The tier labels of the tests")

# hookless_add_gtest(<name> TIER <tier> SOURCES <file>... [LIBRARIES <target>...]
#                    [DEFINITIONS <macro>...] [DEPENDS <target>...] [PROPERTIES <property> <value>...])
# DEPENDS: programs the tests run, built first. PROPERTIES: ctest properties of every test.
function(hookless_add_gtest name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "TIER" "SOURCES;LIBRARIES;DEFINITIONS;DEPENDS;PROPERTIES")
  if(NOT arg_TIER IN_LIST HOOKLESS_TEST_TIERS)
    message(FATAL_ERROR "hookless_add_gtest(${name}): TIER '${arg_TIER}' is not one of: ${HOOKLESS_TEST_TIERS}")
  endif()
  add_executable(${name} ${arg_SOURCES})
  target_link_libraries(${name} PRIVATE ${arg_LIBRARIES} GTest::gtest_main)
  if(arg_DEFINITIONS)
    target_compile_definitions(${name} PRIVATE ${arg_DEFINITIONS})
  endif()
  if(arg_DEPENDS)
    add_dependencies(${name} ${arg_DEPENDS})
  endif()
  hookless_warnings(${name})
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS ${arg_TIER} ${arg_PROPERTIES})
endfunction()

# hookless_add_blackbox_test(<name> SOURCES <file>... [the options of hookless_add_gtest but TIER]):
# a program of the blackbox tier, with the black-box helpers (tests/blackbox/blackbox_support.hpp)
# and HOOKLESS_SOURCE_DIR, built after the hooklessd and hooklessctl it runs.
function(hookless_add_blackbox_test name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES;LIBRARIES;DEFINITIONS;DEPENDS;PROPERTIES")
  hookless_add_gtest(${name} TIER blackbox
    SOURCES ${arg_SOURCES}
    LIBRARIES hookless_blackbox_support ${arg_LIBRARIES}
    DEFINITIONS HOOKLESS_SOURCE_DIR="${PROJECT_SOURCE_DIR}" ${arg_DEFINITIONS}
    DEPENDS hooklessd hooklessctl ${arg_DEPENDS}
    PROPERTIES ${arg_PROPERTIES})
endfunction()

# hookless_set_tier(<test> <tier> [<other label>...]): the tier of a test added with add_test().
function(hookless_set_tier test tier)
  if(NOT tier IN_LIST HOOKLESS_TEST_TIERS)
    message(FATAL_ERROR "hookless_set_tier(${test}): tier '${tier}' is not one of: ${HOOKLESS_TEST_TIERS}")
  endif()
  set(labels ${tier} ${ARGN})
  set_tests_properties(${test} PROPERTIES LABELS "${labels}")
endfunction()
