# Precompiled headers for mosaik's test targets.
#
#   mosaik_add_test_pch(<target> [STANDALONE])
#
# Gives <target> a precompiled header with Catch2 and asio's coroutine
# support (the expensive headers every test includes). By default the PCH is
# built once, by the helper target `mosaik_test_pch`, and shared through
# REUSE_FROM; this requires <target> to be compiled with the same flags and
# definitions as that helper, i.e. to link mosaik::mosaik and Catch2 (through
# mosaik_catch_main) and use mosaik_set_warnings(). A target with extra compile
# definitions or options must pass STANDALONE to get a PCH of its own.
# Does nothing when MOSAIK_USE_PCH is OFF.
#
# Never use it on the target holding CATCH_CONFIG_MAIN: the PCH would include
# catch.hpp before the macro is defined.
include_guard(GLOBAL)

set(MOSAIK_TEST_PCH_HEADERS
  <catch2/catch.hpp>
  <asio/awaitable.hpp>
  <asio/co_spawn.hpp>
  <fmt/format.h>
  <functional>
  <memory>
  <optional>
  <string>
  <vector>
  CACHE INTERNAL "Headers precompiled for mosaik's test targets")

function(mosaik_add_test_pch target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "STANDALONE" "" "")
  if(NOT MOSAIK_USE_PCH)
    return()
  endif()

  if(arg_STANDALONE)
    target_precompile_headers(${target} PRIVATE ${MOSAIK_TEST_PCH_HEADERS})
    return()
  endif()

  if(NOT TARGET mosaik_test_pch)
    set(anchor "${PROJECT_BINARY_DIR}/mosaik_test_pch_anchor.cpp")
    file(CONFIGURE OUTPUT "${anchor}"
      CONTENT "// Anchor source of the shared test precompiled header.\n")
    add_library(mosaik_test_pch OBJECT "${anchor}")
    target_link_libraries(mosaik_test_pch PRIVATE mosaik::mosaik Catch2::Catch2)
    mosaik_set_warnings(mosaik_test_pch)
    target_precompile_headers(mosaik_test_pch PRIVATE ${MOSAIK_TEST_PCH_HEADERS})
  endif()
  target_precompile_headers(${target} REUSE_FROM mosaik_test_pch)
endfunction()
