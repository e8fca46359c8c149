# All third-party libraries come from Debian's packages (docs/DEPENDENCIES.md says why
# each one was chosen). scripts/install-deps.sh installs them.
find_package(PkgConfig REQUIRED)
find_package(CURL 7.88 REQUIRED)
find_package(OpenSSL 3.0 REQUIRED)
find_package(RapidJSON REQUIRED)
find_package(Boost 1.74 REQUIRED)
find_package(Threads REQUIRED)
if(SIDECAR_BUILD_TESTS)
  find_package(doctest REQUIRED)
endif()
find_package(CLI11 REQUIRED)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium>=1.0.18)
pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus>=3.3)
pkg_check_modules(SECCOMP REQUIRED IMPORTED_TARGET libseccomp>=2.5)

# RapidJSON's Debian package exports include dirs as a variable only.
if(NOT TARGET RapidJSON::RapidJSON)
  add_library(RapidJSON::RapidJSON INTERFACE IMPORTED)
  set_target_properties(RapidJSON::RapidJSON PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${RAPIDJSON_INCLUDE_DIRS}"
    # 64-bit sizes and no std::string in the API: values stay in our buffers.
    INTERFACE_COMPILE_DEFINITIONS "RAPIDJSON_HAS_STDSTRING=0")
endif()
