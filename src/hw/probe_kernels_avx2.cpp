// AVX2 (+FMA, and AVX-VNNI where present) variants of the probe kernels. Built with -mavx2 -mfma;
// only called when CpuFeatures::has_avx2_fma() holds.
#include <immintrin.h>

#include <cstring>

#include "hw/probe_kernels.h"

namespace lathe::hw::detail {

namespace {

// See probe_kernels.cpp: an instruction-free statement that hides a value from the optimizer, so
// loop-invariant inputs are neither folded nor shared between accumulators.
#define LATHE_HW_OPAQUE(value) __asm__("" : "+x"(value))

uint32_t pack4(const void* bytes) {
  uint32_t word;
  std::memcpy(&word, bytes, 4);
  return word;
}

// The accumulators are folded with vector adds before anything touches memory: reading them one by
// one through a store makes GCC keep the whole array on the stack inside the timed loop. The fold
// wraps (int32) or rounds (f32) only far beyond the iteration counts the tests check exactly.
template <int N>
double mean_lane(const __m256i (&acc)[N]) {
  __m256i s = acc[0];
#pragma GCC unroll 16
  for (int k = 1; k < N; ++k) s = _mm256_add_epi32(s, acc[k]);
  alignas(32) int32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s);
  int64_t sum = 0;
  for (int32_t x : lanes) sum += x;
  return static_cast<double>(sum) / (N * 8);
}

template <int N>
double mean_lane(const __m256 (&acc)[N]) {
  __m256 s = acc[0];
#pragma GCC unroll 16
  for (int k = 1; k < N; ++k) s = _mm256_add_ps(s, acc[k]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, s);
  double sum = 0;
  for (float x : lanes) sum += x;
  return sum / (N * 8);
}

}  // namespace

uint64_t read_checksum_avx2(const void* data, size_t bytes) {
  const auto* p = static_cast<const unsigned char*>(data);
  // Four independent sums so the adds never wait on each other; eight 32-byte loads per round
  // keep enough misses in flight for the hardware prefetcher to stream.
  __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 256 <= bytes; i += 256) {
    const auto* v = reinterpret_cast<const __m256i*>(p + i);
    s0 = _mm256_add_epi64(s0, _mm256_loadu_si256(v + 0));
    s1 = _mm256_add_epi64(s1, _mm256_loadu_si256(v + 1));
    s2 = _mm256_add_epi64(s2, _mm256_loadu_si256(v + 2));
    s3 = _mm256_add_epi64(s3, _mm256_loadu_si256(v + 3));
    s0 = _mm256_add_epi64(s0, _mm256_loadu_si256(v + 4));
    s1 = _mm256_add_epi64(s1, _mm256_loadu_si256(v + 5));
    s2 = _mm256_add_epi64(s2, _mm256_loadu_si256(v + 6));
    s3 = _mm256_add_epi64(s3, _mm256_loadu_si256(v + 7));
  }
  const __m256i s = _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3));
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s);
  // i is a multiple of 8, so the tail's words line up with the scalar definition.
  return lanes[0] + lanes[1] + lanes[2] + lanes[3] + read_checksum_scalar(p + i, bytes - i);
}

double peak_int8_avx2(int64_t iterations) {
  static_assert(kAccumulatorsInt8Avx2 == 8, "the loop below names eight accumulators");
  const __m256i a = _mm256_set1_epi32(static_cast<int32_t>(pack4(kInt8A)));
  const __m256i b = _mm256_set1_epi32(static_cast<int32_t>(pack4(kInt8B)));
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[kAccumulatorsInt8Avx2];
  // Equal starting values would let the compiler prove the accumulators equal and keep just one.
  for (auto& v : acc) {
    v = _mm256_setzero_si256();
    LATHE_HW_OPAQUE(v);
  }
  __m256i c0 = acc[0], c1 = acc[1], c2 = acc[2], c3 = acc[3];
  __m256i c4 = acc[4], c5 = acc[5], c6 = acc[6], c7 = acc[7];
  // One asm block per accumulator, on named variables: with intrinsics the compiler either shares
  // one maddubs(a, b) between all accumulators or, when prevented, hoists every product ahead of
  // the adds and spills accumulators to the stack inside the timed loop.
#define LATHE_HW_DOT_STEP(c)                         \
  do {                                               \
    __m256i t;                                       \
    __asm__(                                         \
        "vpmaddubsw %[vb], %[va], %[vt]\n\t"         \
        "vpmaddwd %[vo], %[vt], %[vt]\n\t"           \
        "vpaddd %[vt], %[vc], %[vc]"                 \
        : [vc] "+x"(c), [vt] "=&x"(t)                \
        : [va] "x"(a), [vb] "x"(b), [vo] "x"(ones)); \
  } while (0)
  for (int64_t it = 0; it < iterations; ++it) {
    LATHE_HW_DOT_STEP(c0);
    LATHE_HW_DOT_STEP(c1);
    LATHE_HW_DOT_STEP(c2);
    LATHE_HW_DOT_STEP(c3);
    LATHE_HW_DOT_STEP(c4);
    LATHE_HW_DOT_STEP(c5);
    LATHE_HW_DOT_STEP(c6);
    LATHE_HW_DOT_STEP(c7);
  }
#undef LATHE_HW_DOT_STEP
  acc[0] = c0, acc[1] = c1, acc[2] = c2, acc[3] = c3;
  acc[4] = c4, acc[5] = c5, acc[6] = c6, acc[7] = c7;
  return mean_lane(acc);
}

// VEX-encoded vpdpbusd (Alder Lake and later, Zen 5) needs its own target: the file flags stop at
// AVX2, and this function is only called when CPUID reports AVX-VNNI.
__attribute__((target("avxvnni"))) double peak_int8_avx_vnni(int64_t iterations) {
  __m256i a = _mm256_set1_epi32(static_cast<int32_t>(pack4(kInt8A)));
  __m256i b = _mm256_set1_epi32(static_cast<int32_t>(pack4(kInt8B)));
  __m256i acc[kAccumulatorsYmm];
  // Equal starting values would let the compiler prove the accumulators equal and keep just one.
  for (auto& v : acc) {
    v = _mm256_setzero_si256();
    LATHE_HW_OPAQUE(v);
  }
  for (int64_t it = 0; it < iterations; ++it) {
    LATHE_HW_OPAQUE(a);
    LATHE_HW_OPAQUE(b);
#pragma GCC unroll 16
    for (int k = 0; k < kAccumulatorsYmm; ++k) acc[k] = _mm256_dpbusd_avx_epi32(acc[k], a, b);
  }
  return mean_lane(acc);
}

double peak_f32_avx2(int64_t iterations) {
  __m256 a = _mm256_set1_ps(1.0f);
  __m256 b = _mm256_set1_ps(1.0f);
  __m256 acc[kAccumulatorsYmm];
  // Equal starting values would let the compiler prove the accumulators equal and keep just one.
  for (auto& v : acc) {
    v = _mm256_setzero_ps();
    LATHE_HW_OPAQUE(v);
  }
  for (int64_t it = 0; it < iterations; ++it) {
    LATHE_HW_OPAQUE(a);
    LATHE_HW_OPAQUE(b);
#pragma GCC unroll 16
    for (int k = 0; k < kAccumulatorsYmm; ++k) acc[k] = _mm256_fmadd_ps(acc[k], a, b);
  }
  return mean_lane(acc);
}

#undef LATHE_HW_OPAQUE

}  // namespace lathe::hw::detail
