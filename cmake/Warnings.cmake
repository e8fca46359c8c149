# project_warnings(<target>): the warning set every first-party target builds with.
# -Werror only when SIDECAR_WERROR is on (CI and the presets turn it on), so a new
# compiler's new warning does not break a user's build from a release tarball.
function(project_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
    -Wcast-align -Wunused -Woverloaded-virtual -Wconversion -Wsign-conversion
    -Wnull-dereference -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
  # gcc 12.1/12.2 (Debian 12's) report a bogus -Wrestrict inside libstdc++'s
  # std::string when optimising (release, asan presets): GCC bug 105329, fixed in 12.3.
  # The warning stays on for every other compiler.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 12.3
     AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12)
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(SIDECAR_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
