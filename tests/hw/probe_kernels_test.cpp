// Every ISA variant of the probe kernels must do exactly the work it claims: read every byte
// (same checksum as the scalar loop) and execute every multiply-add (same lane value).
#include "hw/probe_kernels.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

namespace lathe::hw {
namespace {

std::vector<unsigned char> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<unsigned char> out(n);
  for (auto& b : out) b = static_cast<unsigned char>(rng());
  return out;
}

TEST(ProbeKernels, ScalarChecksumIsTheSumOfWords) {
  const unsigned char bytes[11] = {1, 0, 0, 0, 0, 0, 0, 0, 2, 3, 0};
  // Words: 1, then the zero-padded tail 0x0302.
  EXPECT_EQ(detail::read_checksum_scalar(bytes, sizeof bytes), 1u + 0x0302u);
  EXPECT_EQ(detail::read_checksum_scalar(bytes, 0), 0u);
}

TEST(ProbeKernels, EveryReadVariantMatchesScalar) {
  const CpuFeatures cpu = CpuFeatures::detect();
  const std::vector<unsigned char> data = random_bytes(1 << 16, 7);
  // Odd sizes exercise every tail path; odd offsets exercise unaligned loads.
  const size_t sizes[] = {0, 1, 7, 8, 9, 63, 64, 65, 255, 256, 257, 511, 512, 513, 4096, 40000};
  for (const ReadKernel& kernel : read_kernels(cpu)) {
    for (size_t offset : {0, 1, 8, 13}) {
      for (size_t size : sizes) {
        const uint64_t want = detail::read_checksum_scalar(data.data() + offset, size);
        EXPECT_EQ(kernel.checksum(data.data() + offset, size), want)
            << kernel.isa << " offset " << offset << " size " << size;
      }
    }
  }
}

TEST(ProbeKernels, EveryReadVariantSeesEveryByte) {
  const CpuFeatures cpu = CpuFeatures::detect();
  std::vector<unsigned char> data = random_bytes(3000, 11);
  for (const ReadKernel& kernel : read_kernels(cpu)) {
    const uint64_t base = kernel.checksum(data.data(), data.size());
    for (size_t i = 0; i < data.size(); i += 97) {
      data[i] ^= 0x10;
      EXPECT_NE(kernel.checksum(data.data(), data.size()), base) << kernel.isa << " byte " << i;
      data[i] ^= 0x10;
    }
  }
}

TEST(ProbeKernels, ScalarVariantsExistEverywhere) {
  const CpuFeatures cpu = CpuFeatures::detect();
  EXPECT_EQ(read_kernels(cpu).back().isa, "scalar");
  for (PeakKind kind : kAllPeakKinds) {
    const auto kernels = peak_kernels(cpu, kind);
    ASSERT_FALSE(kernels.empty());
    EXPECT_EQ(kernels.back().isa, "scalar");
    for (const PeakKernel& k : kernels) {
      EXPECT_EQ(k.kind, kind);
      EXPECT_GT(k.ops_per_iteration, 0);
    }
  }
  // Int8 and f32 always have a measurable kernel; an emulated bf16 is never reported as a peak.
  EXPECT_TRUE(best_peak_kernel(cpu, PeakKind::kInt8).has_value());
  EXPECT_TRUE(best_peak_kernel(cpu, PeakKind::kF32).has_value());
  const auto bf16 = best_peak_kernel(cpu, PeakKind::kBf16);
  if (bf16) {
    EXPECT_TRUE(bf16->native);
  }
}

TEST(ProbeKernels, EveryPeakVariantComputesTheSameLaneValueAsScalar) {
  const CpuFeatures cpu = CpuFeatures::detect();
  for (PeakKind kind : kAllPeakKinds) {
    const auto kernels = peak_kernels(cpu, kind);
    for (int64_t n : {0, 1, 2, 3, 17, 1000}) {
      const double scalar = kernels.back().run(n);
      EXPECT_EQ(scalar, expected_peak_lane_value(kind, n)) << peak_kind_name(kind) << " n=" << n;
      for (const PeakKernel& k : kernels) {
        EXPECT_EQ(k.run(n), scalar) << peak_kind_name(kind) << ' ' << k.isa << " n=" << n;
      }
    }
  }
}

TEST(ProbeKernels, ExpectedLaneValues) {
  EXPECT_EQ(kInt8LaneDot, -3);
  EXPECT_EQ(expected_peak_lane_value(PeakKind::kInt8, 10), -30.0);
  EXPECT_EQ(expected_peak_lane_value(PeakKind::kF32, 10), 10.0);
  EXPECT_EQ(expected_peak_lane_value(PeakKind::kBf16, 10), 20.0);
  EXPECT_EQ(peak_kind_name(PeakKind::kInt8), "int8");
  EXPECT_EQ(peak_kind_name(PeakKind::kF32), "f32");
  EXPECT_EQ(peak_kind_name(PeakKind::kBf16), "bf16");
}

#if defined(__x86_64__)
// The dispatch must offer exactly the variants the CPU can run, best first.
TEST(ProbeKernels, DispatchFollowsCpuFeatures) {
  CpuFeatures none;  // nothing beyond x86-64
  EXPECT_EQ(read_kernels(none).size(), 1u);
  EXPECT_EQ(best_peak_kernel(none, PeakKind::kInt8)->isa, "scalar");
  EXPECT_FALSE(best_peak_kernel(none, PeakKind::kBf16).has_value());

  CpuFeatures avx2;
  avx2.avx = avx2.avx2 = avx2.fma = avx2.f16c = true;
  EXPECT_EQ(best_read_kernel(avx2).isa, "avx2");
  EXPECT_EQ(best_peak_kernel(avx2, PeakKind::kInt8)->isa, "avx2");
  avx2.avxvnni = true;
  EXPECT_EQ(best_peak_kernel(avx2, PeakKind::kInt8)->isa, "avx_vnni");
  EXPECT_EQ(best_peak_kernel(avx2, PeakKind::kF32)->isa, "avx2");

  CpuFeatures zen4 = avx2;
  zen4.avx512f = zen4.avx512bw = zen4.avx512vl = zen4.avx512dq = zen4.avx512vnni = true;
  EXPECT_EQ(best_read_kernel(zen4).isa, "avx512");
  EXPECT_EQ(best_peak_kernel(zen4, PeakKind::kInt8)->isa, "avx512_vnni");
  EXPECT_FALSE(best_peak_kernel(zen4, PeakKind::kBf16).has_value());
  zen4.avx512bf16 = true;
  EXPECT_EQ(best_peak_kernel(zen4, PeakKind::kBf16)->isa, "avx512_bf16");
}
#endif

}  // namespace
}  // namespace lathe::hw
