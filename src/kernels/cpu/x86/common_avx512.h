// Building blocks of the AVX-512 matmul kernels. Include only from *_avx512.cpp files: everything
// here is compiled for AVX-512 and lives in its own namespace, so no inline function is shared
// with a translation unit built for another instruction set.
//
// The layout every quantized kernel uses: a group of 16 weight rows, one row per 32-bit lane of the
// result. Sixteen bytes of four rows are loaded into one register, one row per 128-bit lane
// ("quad" q holds rows q, q+4, q+8, q+12), and vpdpbusd against the activation bytes broadcast to
// all four 128-bit lanes gives each row four partial sums. sum_quads() folds four quads into one
// register of 16 row sums, in row order, with in-lane shuffles only.
//
// Rows in lanes is what lets the kernels finish each block exactly as the scalar reference does:
// the integer block sum is exact, and the float scaling and accumulation happen per lane in the
// reference's order, so every kernel here returns the reference's bits, whatever the batch size.
#pragma once

#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512VL__) || \
    !defined(__AVX512VNNI__)
#error "compile this file with the AVX-512 flags (name it *_avx512.cpp)"
#endif

// GCC 12 reports the deliberately undefined pass-through operands inside its own AVX-512 intrinsics
// (_mm512_undefined_*) as maybe-uninitialized once they are inlined; there is nothing to fix here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/cpu/kernels.h"

namespace lathe::kernels::x86::avx512 {

inline constexpr int kGroupRows = 16;

// The 16 rows of one group. A group at the end of the range repeats its last row in the unused
// lanes, so every load stays inside the weights; those lanes are masked off when storing.
struct RowGroup {
  const uint8_t* row[kGroupRows];
  int64_t first = 0;
  __mmask16 valid = 0;
};

inline RowGroup make_group(const MatmulArgs& a, int64_t first, int64_t end) {
  RowGroup g;
  g.first = first;
  const int64_t n = end - first < kGroupRows ? end - first : kGroupRows;
  g.valid = static_cast<__mmask16>((1u << n) - 1);
  for (int i = 0; i < kGroupRows; ++i) {
    const int64_t r = first + (i < n ? i : n - 1);
    g.row[i] = a.weights + static_cast<uint64_t>(r) * a.weight_row_bytes;
  }
  return g;
}

// 16 bytes at `offset` of rows q, q+4, q+8, q+12, one row per 128-bit lane.
inline __m512i load_quad(const RowGroup& g, int q, uint64_t offset) {
  __m512i v =
      _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g.row[q] + offset)));
  v = _mm512_inserti32x4(
      v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(g.row[q + 4] + offset)), 1);
  v = _mm512_inserti32x4(
      v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(g.row[q + 8] + offset)), 2);
  v = _mm512_inserti32x4(
      v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(g.row[q + 12] + offset)), 3);
  return v;
}

// The first 32-bit word at `offset` of each of the 16 rows, rows in order. Masked broadcasts are
// plain loads merged by the ALU, which keeps this off the shuffle units the quads already load.
inline __m512i load_dwords(const RowGroup& g, uint64_t offset) {
  __m512i v = _mm512_castsi128_si512(_mm_cvtsi32_si128(0));
  for (int i = 0; i < kGroupRows; ++i) {
    int32_t x;
    std::memcpy(&x, g.row[i] + offset, sizeof(x));
    v = _mm512_mask_set1_epi32(v, static_cast<__mmask16>(1u << i), x);
  }
  return v;
}

// Row-major kernels read 16 rows side by side, 16 concurrent streams the hardware prefetcher does
// not follow well; each block step asks for the line `kPrefetchBytes` ahead in every row.
inline constexpr uint64_t kPrefetchBytes = 1024;

inline void prefetch_rows(const RowGroup& g, uint64_t offset) {
  for (int i = 0; i < kGroupRows; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(g.row[i] + offset + kPrefetchBytes), _MM_HINT_T0);
  }
}

inline __m512i broadcast16(const void* p) {
  return _mm512_broadcast_i32x4(_mm_loadu_si128(static_cast<const __m128i*>(p)));
}

// Each row's four partial sums (one quad per argument, see the top of the file) → one sum per row,
// rows in order. Lane L of quad q is row q + 4L, so after two unpack levels 128-bit lane L holds
// rows 4L..4L+3.
inline __m512i sum_quads(__m512i q0, __m512i q1, __m512i q2, __m512i q3) {
  const __m512i t01 =
      _mm512_add_epi32(_mm512_unpacklo_epi32(q0, q1), _mm512_unpackhi_epi32(q0, q1));
  const __m512i t23 =
      _mm512_add_epi32(_mm512_unpacklo_epi32(q2, q3), _mm512_unpackhi_epi32(q2, q3));
  return _mm512_add_epi32(_mm512_unpacklo_epi64(t01, t23), _mm512_unpackhi_epi64(t01, t23));
}

// The f16 held in the low 16 bits of each 32-bit lane, as f32 (exact).
inline __m512 low_f16_to_f32(__m512i x) {
  return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(x));
}
inline __m512 high_f16_to_f32(__m512i x) {
  return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(x, 16)));
}

inline float f16_scalar(const void* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof(h));
  return _cvtsh_ss(h);
}

// Hides a product from the compiler so it cannot fuse it with the following add into an FMA: the
// reference rounds the product first, and so must we to return its bits.
inline __m512 opaque(__m512 x) {
  __asm__("" : "+v"(x));
  return x;
}

inline __m512i dpbusd(__m512i acc, __m512i u8, __m512i s8) {
  return _mm512_dpbusd_epi32(acc, u8, s8);
}

// -bias * (sum of the activation bytes), spread over each row's four lanes: the starting value of
// an accumulator whose weights were stored as unsigned (value + bias) for vpdpbusd.
inline __m512i offset_init(__m512i bias_u8, __m512i a_lo, __m512i a_hi) {
  const __m512i s = dpbusd(dpbusd(_mm512_setzero_si512(), bias_u8, a_lo), bias_u8, a_hi);
  return _mm512_sub_epi32(_mm512_setzero_si512(), s);
}

inline void store_rows(const MatmulArgs& a, const RowGroup& g, int64_t col, __m512 v) {
  if (a.bias != nullptr) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(g.valid, a.bias + g.first));
  _mm512_mask_storeu_ps(a.out + col * a.out_stride + g.first, g.valid, v);
}

inline const uint8_t* activation_row(const MatmulArgs& a, int64_t col) {
  return a.activations + static_cast<uint64_t>(col) * a.activation_row_bytes;
}

// Runs Format::tile<C>(args, group, first_col) over every group of 16 rows in [row_begin,
// row_end) and every tile of up to kMaxCols activation rows: each tile reads the group's weights
// once for all its columns.
template <class Format, int C>
void tile_dispatch(const MatmulArgs& a, const RowGroup& g, int64_t c0, int64_t n) {
  if constexpr (C > 0) {
    if (n == C) {
      Format::template tile<C>(a, g, c0);
    } else {
      tile_dispatch<Format, C - 1>(a, g, c0, n);
    }
  }
}

template <class Format, int kMaxCols>
void matmul_groups(const MatmulArgs& a, int64_t row_begin, int64_t row_end) {
  for (int64_t r = row_begin; r < row_end; r += kGroupRows) {
    const RowGroup g = make_group(a, r, row_end);
    for (int64_t c = 0; c < a.n_b; c += kMaxCols) {
      const int64_t n = a.n_b - c < kMaxCols ? a.n_b - c : kMaxCols;
      tile_dispatch<Format, kMaxCols>(a, g, c, n);
    }
  }
}

}  // namespace lathe::kernels::x86::avx512
