# project_warnings(<target>): the warning set every first-party target builds with.
# -Werror only when SIDECAR_WERROR is on (CI and the presets turn it on), so a new
# compiler's new warning does not break a user's build from a release tarball.
function(project_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
    -Wcast-align -Wunused -Woverloaded-virtual -Wconversion -Wsign-conversion
    -Wnull-dereference -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
  if(SIDECAR_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
