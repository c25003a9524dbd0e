// The inner loops of the hardware probes, one variant per instruction set.
//
// Two families:
//  - read kernels stream a buffer with the widest loads the CPU has and fold it into a checksum,
//    so the measured bandwidth is what a matmul that reads its weights once can reach;
//  - peak kernels run the instruction mix of the quantized matmuls (int8 dot products, f32 FMA,
//    bf16 dot) on register-resident data with enough independent accumulators to hide latency,
//    so the measured rate is the issue-limited peak of that mix.
//
// Every variant of a family computes the same value from the same input, so a test can prove that
// a SIMD variant did all the work it claims (read every byte, executed every multiply-add).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "core/cpu_features.h"

namespace lathe::hw {

// The instruction mixes lathe's kernels use. Peaks are counted in ops: a multiply-add is 2 ops.
enum class PeakKind : int { kInt8 = 0, kF32 = 1, kBf16 = 2 };
inline constexpr int kPeakKindCount = 3;
inline constexpr std::array<PeakKind, kPeakKindCount> kAllPeakKinds = {
    PeakKind::kInt8, PeakKind::kF32, PeakKind::kBf16};

// "int8", "f32", "bf16".
std::string_view peak_kind_name(PeakKind kind);

// Sum (mod 2^64) of the buffer's native-endian 64-bit words, the last partial word zero-padded.
// Addition is associative and commutative, so any split of the buffer on an 8-byte boundary and any
// order of accumulation gives the same value: every variant must agree with the scalar one.
using ReadChecksumFn = uint64_t (*)(const void* data, size_t bytes);

struct ReadKernel {
  std::string_view isa;  // "avx512", "avx2", "scalar"
  ReadChecksumFn checksum;
};

// Runs `iterations` rounds of the kernel's instruction mix and returns the mean value of its
// accumulator lanes. All lanes start at zero and see the same inputs, so the mean equals every
// lane's value; a variant that skipped accumulators or lanes would report a smaller mean.
// With the fixed inputs below, after n iterations each lane holds (for n small enough not to wrap
// or lose precision):
//   int8: n * kInt8LaneDot   (4 unsigned×signed byte products per 32-bit lane per iteration)
//   f32:  n                  (acc = acc * 1 + 1)
//   bf16: 2 * n              (acc += 1*1 + 1*1 per 32-bit lane per iteration)
using PeakRunFn = double (*)(int64_t iterations);

struct PeakKernel {
  std::string_view isa;  // "avx512_vnni", "avx_vnni", "avx2", "avx512_bf16", "avx512", "scalar"
  PeakKind kind;
  int64_t ops_per_iteration;  // per thread, counting a multiply-add as 2 ops
  bool native;                // false for a reference that emulates the mix (scalar bf16)
  PeakRunFn run;
};

// The byte pattern the int8 kernels use: every 32-bit lane sees u8 {1,2,3,4} · s8 {1,-1,2,-2}.
// The pairwise sums stay far from int16 saturation, so the AVX2 maddubs path is exact too.
inline constexpr uint8_t kInt8A[4] = {1, 2, 3, 4};
inline constexpr int8_t kInt8B[4] = {1, -1, 2, -2};
inline constexpr int64_t kInt8LaneDot = 1 * 1 + 2 * -1 + 3 * 2 + 4 * -2;  // = -3

// The lane value every peak kernel of `kind` must return after `iterations` (see PeakRunFn).
double expected_peak_lane_value(PeakKind kind, int64_t iterations);

// Every read kernel this CPU can run, best first; the last is always the scalar one.
std::vector<ReadKernel> read_kernels(const CpuFeatures& cpu);
// Every peak kernel of `kind` this CPU can run, best first (scalar last, possibly not native).
std::vector<PeakKernel> peak_kernels(const CpuFeatures& cpu, PeakKind kind);

// The variants the probes measure: the best ones. A kind without a native variant on this CPU
// (bf16 without AVX512_BF16) has none, because an emulated peak says nothing about the hardware.
ReadKernel best_read_kernel(const CpuFeatures& cpu);
std::optional<PeakKernel> best_peak_kernel(const CpuFeatures& cpu, PeakKind kind);

namespace detail {
// Independent accumulators per kernel. Zen 5 and recent Intel cores issue two FMA/VNNI ops per
// cycle with a latency of 4-5 cycles, so at least 10 chains are needed to keep both pipes busy;
// the counts leave room for the inputs in the register file (32 zmm, 16 ymm).
inline constexpr int kAccumulatorsZmm = 16;
inline constexpr int kAccumulatorsYmm = 12;
// Scalar code has 16 general and 16 vector registers on x86-64: enough for these chains plus the
// inputs, so the accumulators stay in registers.
inline constexpr int kAccumulatorsScalarInt8 = 4;
inline constexpr int kAccumulatorsScalar = 8;
// maddubs+madd+add keeps only the 1-cycle add in the loop-carried chain, so fewer accumulators do;
// more would spill the 16 ymm registers that also hold the products.
inline constexpr int kAccumulatorsInt8Avx2 = 8;

// Ops per iteration of each variant (a multiply-add counts 2).
inline constexpr int64_t kOpsInt8Scalar = kAccumulatorsScalarInt8 * 4 * 2;
inline constexpr int64_t kOpsF32Scalar = kAccumulatorsScalar * 2;
inline constexpr int64_t kOpsBf16Scalar = kAccumulatorsScalar * 2 * 2;
inline constexpr int64_t kOpsInt8Avx2 = kAccumulatorsInt8Avx2 * 32 * 2;
inline constexpr int64_t kOpsInt8AvxVnni = kAccumulatorsYmm * 32 * 2;
inline constexpr int64_t kOpsF32Avx2 = kAccumulatorsYmm * 8 * 2;
inline constexpr int64_t kOpsInt8Avx512Vnni = kAccumulatorsZmm * 64 * 2;
inline constexpr int64_t kOpsF32Avx512 = kAccumulatorsZmm * 16 * 2;
inline constexpr int64_t kOpsBf16Avx512 = kAccumulatorsZmm * 32 * 2;

// Per-ISA variants. The *_avx2/_avx512 ones live in files built with those ISA flags and must only
// be called when CpuFeatures says the CPU has them.
uint64_t read_checksum_scalar(const void* data, size_t bytes);
double peak_int8_scalar(int64_t iterations);
double peak_f32_scalar(int64_t iterations);
double peak_bf16_scalar(int64_t iterations);

#if defined(__x86_64__)
uint64_t read_checksum_avx2(const void* data, size_t bytes);
double peak_int8_avx2(int64_t iterations);      // vpmaddubsw + vpmaddwd + vpaddd
double peak_int8_avx_vnni(int64_t iterations);  // VEX vpdpbusd on ymm (needs AVX-VNNI)
double peak_f32_avx2(int64_t iterations);

uint64_t read_checksum_avx512(const void* data, size_t bytes);
double peak_int8_avx512_vnni(int64_t iterations);
double peak_f32_avx512(int64_t iterations);
double peak_bf16_avx512(int64_t iterations);
#endif
}  // namespace detail

}  // namespace lathe::hw
