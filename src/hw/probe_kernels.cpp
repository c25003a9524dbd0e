#include "hw/probe_kernels.h"

#include <cstring>

namespace lathe::hw {

namespace detail {

// An empty asm statement that claims to modify its operands: the compiler must assume the inputs
// change, so it can neither fold the loop into a multiplication nor share one product between
// accumulators. It emits no instruction, so it does not perturb the measured mix.
#define LATHE_HW_OPAQUE_INT(a) __asm__("" : "+r"(a))
#define LATHE_HW_OPAQUE_INT4(a, b, c, d) __asm__("" : "+r"(a), "+r"(b), "+r"(c), "+r"(d))
#if defined(__x86_64__) || defined(__i386__)
#define LATHE_HW_OPAQUE_FP(value) __asm__("" : "+x"(value))
#elif defined(__aarch64__)
#define LATHE_HW_OPAQUE_FP(value) __asm__("" : "+w"(value))
#else
#define LATHE_HW_OPAQUE_FP(value) __asm__("" : "+m"(value))
#endif

uint64_t read_checksum_scalar(const void* data, size_t bytes) {
  const auto* p = static_cast<const unsigned char*>(data);
  // Four chains let an out-of-order core keep several loads in flight.
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 32 <= bytes; i += 32) {
    uint64_t w[4];
    std::memcpy(w, p + i, sizeof w);
    s0 += w[0];
    s1 += w[1];
    s2 += w[2];
    s3 += w[3];
  }
  for (; i + 8 <= bytes; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    s0 += w;
  }
  if (i < bytes) {
    uint64_t w = 0;
    std::memcpy(&w, p + i, bytes - i);
    s0 += w;
  }
  return s0 + s1 + s2 + s3;
}

double peak_int8_scalar(int64_t iterations) {
  int32_t a0 = kInt8A[0], a1 = kInt8A[1], a2 = kInt8A[2], a3 = kInt8A[3];
  int32_t b0 = kInt8B[0], b1 = kInt8B[1], b2 = kInt8B[2], b3 = kInt8B[3];
  uint32_t acc[kAccumulatorsScalarInt8] = {};
  // Equal starting values would let the compiler prove the accumulators equal and keep just one.
  for (uint32_t& v : acc) LATHE_HW_OPAQUE_INT(v);
  for (int64_t it = 0; it < iterations; ++it) {
    // Opaque weights: the constants would otherwise turn the multiplies into shifts and adds.
    LATHE_HW_OPAQUE_INT4(b0, b1, b2, b3);
#pragma GCC unroll 4
    for (int k = 0; k < kAccumulatorsScalarInt8; ++k) {
      // Fresh-looking inputs per accumulator, as a real dot product loads new bytes for each.
      LATHE_HW_OPAQUE_INT4(a0, a1, a2, a3);
      // Unsigned arithmetic wraps like vpdpbusd does in long timing runs, without UB.
      acc[k] += static_cast<uint32_t>(a0 * b0 + a1 * b1 + a2 * b2 + a3 * b3);
    }
  }
  int64_t sum = 0;
  for (uint32_t v : acc) sum += static_cast<int32_t>(v);
  return static_cast<double>(sum) / kAccumulatorsScalarInt8;
}

double peak_f32_scalar(int64_t iterations) {
  float a = 1.0f, b = 1.0f;
  float acc[kAccumulatorsScalar] = {};
  // Equal starting values would let the compiler prove the accumulators equal and keep just one.
  for (float& v : acc) LATHE_HW_OPAQUE_FP(v);
  for (int64_t it = 0; it < iterations; ++it) {
    LATHE_HW_OPAQUE_FP(a);
    LATHE_HW_OPAQUE_FP(b);
#pragma GCC unroll 8
    for (int k = 0; k < kAccumulatorsScalar; ++k) acc[k] = acc[k] * a + b;
  }
  double sum = 0;
  for (float v : acc) sum += v;
  return sum / kAccumulatorsScalar;
}

// Emulates vdpbf16ps on one lane: two bf16 products added to an f32 accumulator. There is no
// portable bf16 arithmetic, so this is a correctness reference, not a measurement of anything.
double peak_bf16_scalar(int64_t iterations) {
  float a0 = 1.0f, a1 = 1.0f, b0 = 1.0f, b1 = 1.0f;
  float acc[kAccumulatorsScalar] = {};
  // Equal starting values would let the compiler prove the accumulators equal and keep just one.
  for (float& v : acc) LATHE_HW_OPAQUE_FP(v);
  for (int64_t it = 0; it < iterations; ++it) {
    LATHE_HW_OPAQUE_FP(a0);
    LATHE_HW_OPAQUE_FP(b0);
    for (int k = 0; k < kAccumulatorsScalar; ++k) acc[k] += a0 * b0 + a1 * b1;
  }
  double sum = 0;
  for (float v : acc) sum += v;
  return sum / kAccumulatorsScalar;
}

#undef LATHE_HW_OPAQUE_INT
#undef LATHE_HW_OPAQUE_INT4
#undef LATHE_HW_OPAQUE_FP

}  // namespace detail

std::string_view peak_kind_name(PeakKind kind) {
  switch (kind) {
    case PeakKind::kInt8:
      return "int8";
    case PeakKind::kF32:
      return "f32";
    case PeakKind::kBf16:
      return "bf16";
  }
  return "unknown";
}

double expected_peak_lane_value(PeakKind kind, int64_t iterations) {
  switch (kind) {
    case PeakKind::kInt8:
      return static_cast<double>(iterations * kInt8LaneDot);
    case PeakKind::kF32:
      return static_cast<double>(iterations);
    case PeakKind::kBf16:
      return 2.0 * static_cast<double>(iterations);
  }
  return 0;
}

std::vector<ReadKernel> read_kernels([[maybe_unused]] const CpuFeatures& cpu) {
  std::vector<ReadKernel> out;
#if defined(__x86_64__)
  if (cpu.has_avx512_vnni()) out.push_back({"avx512", detail::read_checksum_avx512});
  if (cpu.has_avx2_fma()) out.push_back({"avx2", detail::read_checksum_avx2});
#endif
  out.push_back({"scalar", detail::read_checksum_scalar});
  return out;
}

std::vector<PeakKernel> peak_kernels([[maybe_unused]] const CpuFeatures& cpu, PeakKind kind) {
  std::vector<PeakKernel> out;
  switch (kind) {
    case PeakKind::kInt8:
#if defined(__x86_64__)
      if (cpu.has_avx512_vnni()) {
        out.push_back(
            {"avx512_vnni", kind, detail::kOpsInt8Avx512Vnni, true, detail::peak_int8_avx512_vnni});
      }
      if (cpu.has_avx2_fma() && cpu.avxvnni) {
        out.push_back(
            {"avx_vnni", kind, detail::kOpsInt8AvxVnni, true, detail::peak_int8_avx_vnni});
      }
      if (cpu.has_avx2_fma()) {
        out.push_back({"avx2", kind, detail::kOpsInt8Avx2, true, detail::peak_int8_avx2});
      }
#endif
      out.push_back({"scalar", kind, detail::kOpsInt8Scalar, true, detail::peak_int8_scalar});
      break;
    case PeakKind::kF32:
#if defined(__x86_64__)
      if (cpu.has_avx512_vnni()) {
        out.push_back({"avx512", kind, detail::kOpsF32Avx512, true, detail::peak_f32_avx512});
      }
      if (cpu.has_avx2_fma()) {
        out.push_back({"avx2", kind, detail::kOpsF32Avx2, true, detail::peak_f32_avx2});
      }
#endif
      out.push_back({"scalar", kind, detail::kOpsF32Scalar, true, detail::peak_f32_scalar});
      break;
    case PeakKind::kBf16:
#if defined(__x86_64__)
      if (cpu.has_avx512_vnni() && cpu.avx512bf16) {
        out.push_back(
            {"avx512_bf16", kind, detail::kOpsBf16Avx512, true, detail::peak_bf16_avx512});
      }
#endif
      out.push_back({"scalar", kind, detail::kOpsBf16Scalar, false, detail::peak_bf16_scalar});
      break;
  }
  return out;
}

ReadKernel best_read_kernel(const CpuFeatures& cpu) {
  return read_kernels(cpu).front();
}

std::optional<PeakKernel> best_peak_kernel(const CpuFeatures& cpu, PeakKind kind) {
  const std::vector<PeakKernel> all = peak_kernels(cpu, kind);
  if (all.empty() || !all.front().native) return std::nullopt;
  return all.front();
}

}  // namespace lathe::hw
