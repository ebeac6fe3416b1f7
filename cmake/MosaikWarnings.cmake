# mosaik_set_warnings(<target>)
#
# Turns on mosaik's warning set for one of OUR targets. The flags are PRIVATE,
# so they never reach consumers of mosaik::mosaik. -Werror is added when
# MOSAIK_WERROR is ON (the default only when mosaik is the top-level project).
include_guard(GLOBAL)

function(mosaik_set_warnings target)
  if(MSVC)
    target_compile_options(${target} PRIVATE /W4 /permissive-)
    if(MOSAIK_WERROR)
      target_compile_options(${target} PRIVATE /WX)
    endif()
  else()
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
    # GCC's -Wmaybe-uninitialized is unreliable under sanitizers (false
    # positives inside libstdc++, e.g. <regex> via Catch2).
    # -Wtsan: libstdc++'s atomic_thread_fence (used by asio) under -fsanitize=thread.
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_FLAGS MATCHES "-fsanitize=")
      target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
      if(CMAKE_CXX_FLAGS MATCHES "-fsanitize=thread")
        target_compile_options(${target} PRIVATE -Wno-tsan)
      endif()
    endif()
    if(MOSAIK_WERROR)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
endfunction()
