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
    if(MOSAIK_WERROR)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
endfunction()
