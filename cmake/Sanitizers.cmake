# ASan + UBSan for the `asan` preset; libFuzzer for the `fuzz` preset (clang only).
if(SIDECAR_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

if(SIDECAR_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "SIDECAR_FUZZ needs clang (use the `fuzz` preset)")
  endif()
  # Instrument everything for coverage; only fuzz targets link the libFuzzer main.
  # The usual libFuzzer macro: code that is only fit for fuzzing (foundation/src/secret.cc:
  # secret bytes on the heap) is compiled only under it.
  add_compile_definitions(FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
  # SIDECAR_FUZZ_SANITIZERS: ASan + UBSan by default; "" for a campaign that explores
  # several times faster (scripts/fuzz-campaign then replays the corpus it grew under
  # the asan preset's fuzz-regression tests, which run the same entry points).
  set(SIDECAR_FUZZ_SANITIZERS "address,undefined" CACHE STRING
      "sanitizers besides libFuzzer's coverage in fuzz builds (comma-separated; empty = none)")
  if(SIDECAR_FUZZ_SANITIZERS STREQUAL "")
    add_compile_options(-fsanitize=fuzzer-no-link -fno-omit-frame-pointer)
  else()
    add_compile_options(-fsanitize=fuzzer-no-link,${SIDECAR_FUZZ_SANITIZERS} -fno-omit-frame-pointer)
    add_link_options(-fsanitize=${SIDECAR_FUZZ_SANITIZERS})
  endif()
endif()

# add_fuzz_target(<name> <source> <libs...>): a libFuzzer binary, only in fuzz builds.
function(add_fuzz_target name source)
  if(SIDECAR_FUZZ)
    add_executable(${name} ${source})
    target_link_libraries(${name} PRIVATE ${ARGN})
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  endif()
endfunction()

# add_fuzz_target_with_corpus(<name> <source> <corpus_dir> <libs...>): the libFuzzer
# binary in fuzz builds, and in every build a `<name>_corpus` test that runs each corpus
# file through the same entry point (label fuzz-regression).
function(add_fuzz_target_with_corpus name source corpus_dir)
  add_fuzz_target(${name} ${source} ${ARGN})
  if(SIDECAR_BUILD_TESTS AND NOT SIDECAR_FUZZ)
    add_executable(${name}_corpus ${source} ${PROJECT_SOURCE_DIR}/tests/fuzz_corpus_main.cc)
    target_link_libraries(${name}_corpus PRIVATE ${ARGN})
    add_test(NAME ${name}.corpus COMMAND ${name}_corpus ${corpus_dir})
    set_tests_properties(${name}.corpus PROPERTIES LABELS fuzz-regression)
  endif()
endfunction()
