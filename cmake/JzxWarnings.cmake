# Warning flags every libjzx target builds with.
function(jzx_target_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
    -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter)
  if(JZX_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
