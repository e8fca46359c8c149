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
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
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
