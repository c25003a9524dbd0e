// Entry points of the x86 SIMD kernels. Each installer overwrites the slots its instruction set
// improves and leaves the others as they are, so tables are layered: reference, then AVX2, then
// AVX-512. The installers live in files compiled with their ISA's flags and must only be called
// when CpuFeatures says the CPU runs that ISA.
#pragma once

#include "core/cpu_features.h"
#include "kernels/cpu/kernels.h"

namespace lathe::kernels::x86 {

// AVX2 + FMA + F16C.
void install_avx2(KernelTable& table);
// AVX-512 F/BW/VL/DQ + VNNI (and BF16 where cpu.avx512bf16).
void install_avx512(KernelTable& table, const CpuFeatures& cpu);

// Per-ISA pieces, gathered by the installers above.
namespace avx2 {
void install_quantizers(KernelTable& table);
void install_matmul_q32(KernelTable& table);
void install_matmul_kquants(KernelTable& table);
void install_matmul_float(KernelTable& table);
void install_vec(KernelTable& table);
void install_matmul_packed(KernelTable& table);
void install_ops(KernelTable& table);
void install_attention(KernelTable& table);
}  // namespace avx2

namespace avx512 {
void install_matmul_q32(KernelTable& table);
void install_matmul_kquants(KernelTable& table);
void install_matmul_float(KernelTable& table, bool bf16);
void install_matmul_packed(KernelTable& table);
void install_ops(KernelTable& table);
void install_attention(KernelTable& table);
}  // namespace avx512

}  // namespace lathe::kernels::x86
