# Hardening flags for every build: the daemons hold secrets and parse untrusted input.
add_compile_options(-fstack-protector-strong -fPIE)
if(NOT CMAKE_BUILD_TYPE STREQUAL "Debug" AND NOT SIDECAR_SANITIZE AND NOT SIDECAR_FUZZ)
  add_compile_definitions(_FORTIFY_SOURCE=2)
endif()
add_link_options(-pie -Wl,-z,relro,-z,now -Wl,-z,noexecstack)
