// AVX-512 (F/BW/VL/DQ + VNNI, and BF16 where present) variants of the probe kernels. Built with the
// AVX-512 flags; only called when CpuFeatures::has_avx512_vnni() holds (and avx512bf16 for bf16).
#include <immintrin.h>

#include <cstring>

#include "hw/probe_kernels.h"

namespace lathe::hw::detail {

namespace {

// See probe_kernels.cpp. "v" admits all 32 vector registers.
#define LATHE_HW_OPAQUE(value) __asm__("" : "+v"(value))

uint32_t pack4(const void* bytes) {
  uint32_t word;
  std::memcpy(&word, bytes, 4);
  return word;
}

// The accumulators are folded with vector adds before anything touches memory: reading them one by
// one through a store makes GCC keep the whole array on the stack inside the timed loop. The fold
// wraps (int32) or rounds (f32) only far beyond the iteration counts the tests check exactly.
template <int N>
double mean_lane(const __m512i (&acc)[N]) {
  __m512i s = acc[0];
#pragma GCC unroll 16
  for (int k = 1; k < N; ++k) s = _mm512_add_epi32(s, acc[k]);
  alignas(64) int32_t lanes[16];
  _mm512_store_si512(lanes, s);
  int64_t sum = 0;
  for (int32_t x : lanes) sum += x;
  return static_cast<double>(sum) / (N * 16);
}

template <int N>
double mean_lane(const __m512 (&acc)[N]) {
  __m512 s = acc[0];
#pragma GCC unroll 16
  for (int k = 1; k < N; ++k) s = _mm512_add_ps(s, acc[k]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  double sum = 0;
  for (float x : lanes) sum += x;
  return sum / (N * 16);
}

}  // namespace

uint64_t read_checksum_avx512(const void* data, size_t bytes) {
  const auto* p = static_cast<const unsigned char*>(data);
  // Four independent sums, eight 64-byte loads (one cache line each) per round.
  __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 512 <= bytes; i += 512) {
    const unsigned char* q = p + i;
    s0 = _mm512_add_epi64(s0, _mm512_loadu_si512(q + 0));
    s1 = _mm512_add_epi64(s1, _mm512_loadu_si512(q + 64));
    s2 = _mm512_add_epi64(s2, _mm512_loadu_si512(q + 128));
    s3 = _mm512_add_epi64(s3, _mm512_loadu_si512(q + 192));
    s0 = _mm512_add_epi64(s0, _mm512_loadu_si512(q + 256));
    s1 = _mm512_add_epi64(s1, _mm512_loadu_si512(q + 320));
    s2 = _mm512_add_epi64(s2, _mm512_loadu_si512(q + 384));
    s3 = _mm512_add_epi64(s3, _mm512_loadu_si512(q + 448));
  }
  const __m512i s = _mm512_add_epi64(_mm512_add_epi64(s0, s1), _mm512_add_epi64(s2, s3));
  // Stored and summed by hand: GCC 12's _mm512_reduce_add_epi64 trips -Wuninitialized.
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, s);
  uint64_t sum = 0;
  for (uint64_t v : lanes) sum += v;
  // i is a multiple of 8, so the tail's words line up with the scalar definition.
  return sum + read_checksum_scalar(p + i, bytes - i);
}

double peak_int8_avx512_vnni(int64_t iterations) {
  __m512i a = _mm512_set1_epi32(static_cast<int32_t>(pack4(kInt8A)));
  __m512i b = _mm512_set1_epi32(static_cast<int32_t>(pack4(kInt8B)));
  __m512i acc[kAccumulatorsZmm];
  // Equal starting values would let the compiler prove the accumulators equal and keep just one.
  for (auto& v : acc) {
    v = _mm512_setzero_si512();
    LATHE_HW_OPAQUE(v);
  }
  for (int64_t it = 0; it < iterations; ++it) {
    LATHE_HW_OPAQUE(a);
    LATHE_HW_OPAQUE(b);
#pragma GCC unroll 16
    for (int k = 0; k < kAccumulatorsZmm; ++k) acc[k] = _mm512_dpbusd_epi32(acc[k], a, b);
  }
  return mean_lane(acc);
}

double peak_f32_avx512(int64_t iterations) {
  __m512 a = _mm512_set1_ps(1.0f);
  __m512 b = _mm512_set1_ps(1.0f);
  __m512 acc[kAccumulatorsZmm];
  // Equal starting values would let the compiler prove the accumulators equal and keep just one.
  for (auto& v : acc) {
    v = _mm512_setzero_ps();
    LATHE_HW_OPAQUE(v);
  }
  for (int64_t it = 0; it < iterations; ++it) {
    LATHE_HW_OPAQUE(a);
    LATHE_HW_OPAQUE(b);
#pragma GCC unroll 16
    for (int k = 0; k < kAccumulatorsZmm; ++k) acc[k] = _mm512_fmadd_ps(acc[k], a, b);
  }
  return mean_lane(acc);
}

double peak_bf16_avx512(int64_t iterations) {
  // bf16 1.0 is the top half of f32 1.0.
  __m512i a_bits = _mm512_set1_epi16(0x3F80);
  __m512i b_bits = _mm512_set1_epi16(0x3F80);
  __m512 acc[kAccumulatorsZmm];
  // Equal starting values would let the compiler prove the accumulators equal and keep just one.
  for (auto& v : acc) {
    v = _mm512_setzero_ps();
    LATHE_HW_OPAQUE(v);
  }
  for (int64_t it = 0; it < iterations; ++it) {
    LATHE_HW_OPAQUE(a_bits);
    LATHE_HW_OPAQUE(b_bits);
    const __m512bh a = (__m512bh)a_bits;
    const __m512bh b = (__m512bh)b_bits;
#pragma GCC unroll 16
    for (int k = 0; k < kAccumulatorsZmm; ++k) acc[k] = _mm512_dpbf16_ps(acc[k], a, b);
  }
  return mean_lane(acc);
}

#undef LATHE_HW_OPAQUE

}  // namespace lathe::hw::detail
