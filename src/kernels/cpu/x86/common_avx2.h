// Building blocks of the AVX2 matmul kernels. Include only from *_avx2.cpp files (see
// common_avx512.h for why each ISA has its own namespace).
//
// Same layout as the AVX-512 kernels with half the width: a group of 8 weight rows, one row per
// 32-bit lane of the result, "quad" q holding 16 bytes of rows q and q+4 (one per 128-bit lane).
// Without VNNI a byte dot product is vpmaddubsw (u8 × s8 pairs to saturating s16) then vpmaddwd
// by ones; every format keeps its pair sums far enough from 32767 that nothing saturates (see
// each kernel).
#pragma once

#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "compile this file with the AVX2 flags (name it *_avx2.cpp)"
#endif

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/cpu/kernels.h"

namespace lathe::kernels::x86::avx2 {

inline constexpr int kGroupRows = 8;

struct RowGroup {
  const uint8_t* row[kGroupRows];
  int64_t first = 0;
  int n = 0;
};

inline RowGroup make_group(const MatmulArgs& a, int64_t first, int64_t end) {
  RowGroup g;
  g.first = first;
  g.n = static_cast<int>(end - first < kGroupRows ? end - first : kGroupRows);
  for (int i = 0; i < kGroupRows; ++i) {
    const int64_t r = first + (i < g.n ? i : g.n - 1);
    g.row[i] = a.weights + static_cast<uint64_t>(r) * a.weight_row_bytes;
  }
  return g;
}

inline __m128i load16(const void* p) {
  return _mm_loadu_si128(static_cast<const __m128i*>(p));
}

// 16 bytes at `offset` of rows q and q+4.
inline __m256i load_quad(const RowGroup& g, int q, uint64_t offset) {
  return _mm256_inserti128_si256(_mm256_castsi128_si256(load16(g.row[q] + offset)),
                                 load16(g.row[q + 4] + offset), 1);
}

// Row-major kernels read 8 rows side by side; each step asks for the line `kPrefetchBytes` ahead
// in every row (see common_avx512.h).
inline constexpr uint64_t kPrefetchBytes = 1024;

inline void prefetch_rows(const RowGroup& g, uint64_t offset) {
  for (int i = 0; i < kGroupRows; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(g.row[i] + offset + kPrefetchBytes), _MM_HINT_T0);
  }
}

inline __m256i broadcast16(const void* p) {
  return _mm256_broadcastsi128_si256(load16(p));
}

// The first 32-bit word at `offset` of each of the 8 rows, rows in order.
inline __m256i load_dwords(const RowGroup& g, uint64_t offset) {
  int32_t x[kGroupRows];
  for (int i = 0; i < kGroupRows; ++i) std::memcpy(&x[i], g.row[i] + offset, sizeof(int32_t));
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
}

// Each row's four partial sums → one sum per row, rows in order (see common_avx512.h).
inline __m256i sum_quads(__m256i q0, __m256i q1, __m256i q2, __m256i q3) {
  const __m256i t01 =
      _mm256_add_epi32(_mm256_unpacklo_epi32(q0, q1), _mm256_unpackhi_epi32(q0, q1));
  const __m256i t23 =
      _mm256_add_epi32(_mm256_unpacklo_epi32(q2, q3), _mm256_unpackhi_epi32(q2, q3));
  return _mm256_add_epi32(_mm256_unpacklo_epi64(t01, t23), _mm256_unpackhi_epi64(t01, t23));
}

// The i-th 32-bit word of each row's 16 bytes, rows in order.
struct Words {
  __m256i w0, w1, w2, w3;
};
inline Words transpose_words(__m256i q0, __m256i q1, __m256i q2, __m256i q3) {
  const __m256i u01 = _mm256_unpacklo_epi32(q0, q1), v01 = _mm256_unpackhi_epi32(q0, q1);
  const __m256i u23 = _mm256_unpacklo_epi32(q2, q3), v23 = _mm256_unpackhi_epi32(q2, q3);
  return {_mm256_unpacklo_epi64(u01, u23), _mm256_unpackhi_epi64(u01, u23),
          _mm256_unpacklo_epi64(v01, v23), _mm256_unpackhi_epi64(v01, v23)};
}

// f16 in the low (high) 16 bits of each 32-bit lane → f32, exact.
inline __m256 low_f16_to_f32(__m256i x) {
  const __m256i w =
      _mm256_packus_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0xffff)), _mm256_setzero_si256());
  return _mm256_cvtph_ps(_mm256_castsi256_si128(_mm256_permute4x64_epi64(w, 0x08)));
}
inline __m256 high_f16_to_f32(__m256i x) {
  return low_f16_to_f32(_mm256_srli_epi32(x, 16));
}

inline float f16_scalar(const void* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof(h));
  return _cvtsh_ss(h);
}

// See common_avx512.h: keeps a product from being fused into an FMA.
inline __m256 opaque(__m256 x) {
  __asm__("" : "+x"(x));
  return x;
}

inline __m256i ones16() {
  return _mm256_set1_epi16(1);
}

// s16 pair sums → s32 lane sums.
inline __m256i widen(__m256i s16) {
  return _mm256_madd_epi16(s16, ones16());
}

inline void store_rows(const MatmulArgs& a, const RowGroup& g, int64_t col, __m256 v) {
  alignas(32) float tmp[kGroupRows];
  _mm256_store_ps(tmp, v);
  float* out = a.out + col * a.out_stride + g.first;
  for (int i = 0; i < g.n; ++i) out[i] = a.bias != nullptr ? tmp[i] + a.bias[g.first + i] : tmp[i];
}

inline const uint8_t* activation_row(const MatmulArgs& a, int64_t col) {
  return a.activations + static_cast<uint64_t>(col) * a.activation_row_bytes;
}

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

}  // namespace lathe::kernels::x86::avx2
