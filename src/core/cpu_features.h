// What this CPU can execute, read once at start-up to pick kernels.
#pragma once

#include <string>

namespace lathe {

struct CpuFeatures {
  // x86-64
  bool sse3 = false;
  bool ssse3 = false;
  bool avx = false;
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512vnni = false;
  bool avx512bf16 = false;
  bool avxvnni = false;
  // aarch64
  bool neon = false;
  bool dotprod = false;

  int logical_cores = 1;
  std::string brand;  // "AMD EPYC 9R45" where the CPU reports one

  // The instruction sets lathe compiles kernels for, best first.
  bool has_avx2_fma() const { return avx2 && fma && f16c; }
  bool has_avx512_vnni() const {
    return avx512f && avx512bw && avx512vl && avx512dq && avx512vnni && has_avx2_fma();
  }

  // "AVX2 FMA F16C AVX512F ..." for logs and reports.
  std::string summary() const;

  static CpuFeatures detect();
};

// Physical cores are what matter for memory-bound work; falls back to logical count.
int default_thread_count();

}  // namespace lathe
