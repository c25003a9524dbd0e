// AVX2 matmuls of Q4_0 and Q8_0 (activations q8_0) and Q4_1 (activations q8_1); the AVX2
// counterpart of matmul_q32_avx512.cpp, with groups of 8 rows (see common_avx2.h).
//
// vpmaddubsw needs one unsigned operand. Q4_0's nibbles are unsigned (q + 8), so the accumulator
// starts at -8 * sum(activations) as on AVX-512; nibble × int8 pairs stay under 2 * 15 * 127, so
// the two halves of a block can even be added in 16 bits. Q8_0's weights are signed and q + 128
// would saturate the pairs, so it uses |w| × (a with w's sign) instead, exact for any int8 w.
#include "kernels/cpu/x86/common_avx2.h"
#include "kernels/cpu/x86/x86_kernels.h"
#include "quant/blocks.h"

namespace lathe::kernels::x86::avx2 {

namespace {

using quant::BlockQ4_0;
using quant::BlockQ4_1;
using quant::BlockQ8_0;
using quant::BlockQ8_1;

struct Q4_0 {
  template <int C>
  static void tile(const MatmulArgs& a, const RowGroup& g, int64_t c0) {
    const int64_t nb = a.k / quant::kQK4_0;
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i bias = _mm256_set1_epi8(8);
    const uint8_t* act[C];
    __m256 sum[C];
    for (int c = 0; c < C; ++c) {
      act[c] = activation_row(a, c0 + c);
      sum[c] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; ++b) {
      const uint64_t off = static_cast<uint64_t>(b) * sizeof(BlockQ4_0);
      if (b % 2 == 0) prefetch_rows(g, off);
      __m256i lo[4], hi[4];
      for (int q = 0; q < 4; ++q) {
        const __m256i raw = load_quad(g, q, off + 2);
        lo[q] = _mm256_and_si256(raw, low4);
        hi[q] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
      }
      const __m256 dw = low_f16_to_f32(load_dwords(g, off));
      for (int c = 0; c < C; ++c) {
        const uint8_t* y = act[c] + static_cast<uint64_t>(b) * sizeof(BlockQ8_0);
        const __m256i a_lo = broadcast16(y + 2);
        const __m256i a_hi = broadcast16(y + 18);
        const __m256i init = _mm256_sub_epi32(
            _mm256_setzero_si256(), widen(_mm256_add_epi16(_mm256_maddubs_epi16(bias, a_lo),
                                                           _mm256_maddubs_epi16(bias, a_hi))));
        __m256i s[4];
        for (int q = 0; q < 4; ++q) {
          s[q] = _mm256_add_epi32(init, widen(_mm256_add_epi16(_mm256_maddubs_epi16(lo[q], a_lo),
                                                               _mm256_maddubs_epi16(hi[q], a_hi))));
        }
        const __m256i isum = sum_quads(s[0], s[1], s[2], s[3]);
        const __m256 t = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(isum), dw),
                                       _mm256_set1_ps(f16_scalar(y)));
        sum[c] = _mm256_add_ps(sum[c], opaque(t));
      }
    }
    for (int c = 0; c < C; ++c) store_rows(a, g, c0 + c, sum[c]);
  }
};

struct Q8_0 {
  template <int C>
  static void tile(const MatmulArgs& a, const RowGroup& g, int64_t c0) {
    const int64_t nb = a.k / quant::kQK8_0;
    const uint8_t* act[C];
    __m256 sum[C];
    for (int c = 0; c < C; ++c) {
      act[c] = activation_row(a, c0 + c);
      sum[c] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; ++b) {
      const uint64_t off = static_cast<uint64_t>(b) * sizeof(BlockQ8_0);
      prefetch_rows(g, off);
      __m256i lo[4], hi[4];
      for (int q = 0; q < 4; ++q) {
        lo[q] = load_quad(g, q, off + 2);
        hi[q] = load_quad(g, q, off + 18);
      }
      const __m256 dw = low_f16_to_f32(load_dwords(g, off));
      for (int c = 0; c < C; ++c) {
        const uint8_t* y = act[c] + static_cast<uint64_t>(b) * sizeof(BlockQ8_0);
        const __m256i a_lo = broadcast16(y + 2);
        const __m256i a_hi = broadcast16(y + 18);
        __m256i s[4];
        for (int q = 0; q < 4; ++q) {
          const __m256i p_lo =
              _mm256_maddubs_epi16(_mm256_abs_epi8(lo[q]), _mm256_sign_epi8(a_lo, lo[q]));
          const __m256i p_hi =
              _mm256_maddubs_epi16(_mm256_abs_epi8(hi[q]), _mm256_sign_epi8(a_hi, hi[q]));
          s[q] = _mm256_add_epi32(widen(p_lo), widen(p_hi));
        }
        const __m256i isum = sum_quads(s[0], s[1], s[2], s[3]);
        const __m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(isum),
                                       _mm256_mul_ps(dw, _mm256_set1_ps(f16_scalar(y))));
        sum[c] = _mm256_add_ps(sum[c], opaque(t));
      }
    }
    for (int c = 0; c < C; ++c) store_rows(a, g, c0 + c, sum[c]);
  }
};

struct Q4_1 {
  template <int C>
  static void tile(const MatmulArgs& a, const RowGroup& g, int64_t c0) {
    const int64_t nb = a.k / quant::kQK4_1;
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const uint8_t* act[C];
    __m256 sum[C];
    for (int c = 0; c < C; ++c) {
      act[c] = activation_row(a, c0 + c);
      sum[c] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; ++b) {
      const uint64_t off = static_cast<uint64_t>(b) * sizeof(BlockQ4_1);
      if (b % 2 == 0) prefetch_rows(g, off);
      __m256i lo[4], hi[4];
      for (int q = 0; q < 4; ++q) {
        const __m256i raw = load_quad(g, q, off + 4);
        lo[q] = _mm256_and_si256(raw, low4);
        hi[q] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
      }
      const __m256i dm = load_dwords(g, off);
      const __m256 dw = low_f16_to_f32(dm);
      const __m256 mw = high_f16_to_f32(dm);
      for (int c = 0; c < C; ++c) {
        const uint8_t* y = act[c] + static_cast<uint64_t>(b) * sizeof(BlockQ8_1);
        const __m256i a_lo = broadcast16(y + 4);
        const __m256i a_hi = broadcast16(y + 20);
        __m256i s[4];
        for (int q = 0; q < 4; ++q) {
          s[q] = widen(_mm256_add_epi16(_mm256_maddubs_epi16(lo[q], a_lo),
                                        _mm256_maddubs_epi16(hi[q], a_hi)));
        }
        const __m256i isum = sum_quads(s[0], s[1], s[2], s[3]);
        const __m256 scaled = _mm256_mul_ps(_mm256_mul_ps(dw, _mm256_set1_ps(f16_scalar(y))),
                                            _mm256_cvtepi32_ps(isum));
        const __m256 offset = _mm256_mul_ps(mw, _mm256_set1_ps(f16_scalar(y + 2)));
        sum[c] = _mm256_add_ps(sum[c], _mm256_add_ps(opaque(scaled), opaque(offset)));
      }
    }
    for (int c = 0; c < C; ++c) store_rows(a, g, c0 + c, sum[c]);
  }
};

}  // namespace

void install_matmul_q32(KernelTable& table) {
  table.matmul[static_cast<size_t>(TensorType::kQ4_0)] = &matmul_groups<Q4_0, 4>;
  table.matmul[static_cast<size_t>(TensorType::kQ8_0)] = &matmul_groups<Q8_0, 4>;
  table.matmul[static_cast<size_t>(TensorType::kQ4_1)] = &matmul_groups<Q4_1, 4>;
}

}  // namespace lathe::kernels::x86::avx2
