# Kernel sources are compiled once per instruction set and chosen at run time by CPUID, so the
# binary runs on any x86-64. The instruction set of a file is named by its suffix.
set(LATHE_FLAGS_AVX2 -mavx2 -mfma -mf16c -mbmi2)
set(LATHE_FLAGS_AVX512 -mavx2 -mfma -mf16c -mbmi2 -mavx512f -mavx512bw -mavx512vl -mavx512dq
    -mavx512vnni -mavx512bf16)

function(lathe_apply_isa_flags)
  foreach(source IN LISTS ARGN)
    if(source MATCHES "_avx512\\.cpp$")
      set_source_files_properties(${source} PROPERTIES COMPILE_OPTIONS "${LATHE_FLAGS_AVX512}")
    elseif(source MATCHES "_avx2\\.cpp$")
      set_source_files_properties(${source} PROPERTIES COMPILE_OPTIONS "${LATHE_FLAGS_AVX2}")
    endif()
  endforeach()
endfunction()
