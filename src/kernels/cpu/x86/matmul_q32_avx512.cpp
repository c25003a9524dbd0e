// AVX-512 VNNI matmuls of the formats with one scale per 32 weights: Q4_0 and Q8_0 (activations
// q8_0) and Q4_1 (activations q8_1).
//
// Each tile takes 16 weight rows (see common_avx512.h for the lane layout) and up to four
// activation rows, and walks the blocks once: a block of the 16 rows is loaded and unpacked once
// and dotted with every activation row of the tile. vpdpbusd multiplies unsigned by signed bytes,
// so signed weights are stored biased to unsigned (Q4_0's nibbles are already q + 8; Q8_0 flips the
// sign bit, q + 128) and the accumulator starts at -bias * sum(activations), which makes the block
// sum exact. The float part then follows the reference expression for expression.
#include "kernels/cpu/x86/common_avx512.h"
#include "kernels/cpu/x86/x86_kernels.h"
#include "quant/blocks.h"

namespace lathe::kernels::x86::avx512 {

namespace {

using quant::BlockQ4_0;
using quant::BlockQ4_1;
using quant::BlockQ8_0;
using quant::BlockQ8_1;

struct Q4_0 {
  template <int C>
  static void tile(const MatmulArgs& a, const RowGroup& g, int64_t c0) {
    const int64_t nb = a.k / quant::kQK4_0;
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    const __m512i bias = _mm512_set1_epi8(8);
    const uint8_t* act[C];
    __m512 sum[C];
    for (int c = 0; c < C; ++c) {
      act[c] = activation_row(a, c0 + c);
      sum[c] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < nb; ++b) {
      const uint64_t off = static_cast<uint64_t>(b) * sizeof(BlockQ4_0);
      if (b % 2 == 0) prefetch_rows(g, off);
      __m512i lo[4], hi[4];
      for (int q = 0; q < 4; ++q) {
        const __m512i raw = load_quad(g, q, off + 2);
        lo[q] = _mm512_and_si512(raw, low4);
        hi[q] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), low4);
      }
      const __m512 dw = low_f16_to_f32(load_dwords(g, off));
      for (int c = 0; c < C; ++c) {
        const uint8_t* y = act[c] + static_cast<uint64_t>(b) * sizeof(BlockQ8_0);
        const __m512i a_lo = broadcast16(y + 2);
        const __m512i a_hi = broadcast16(y + 18);
        const __m512i init = offset_init(bias, a_lo, a_hi);
        __m512i s[4];
        for (int q = 0; q < 4; ++q) s[q] = dpbusd(dpbusd(init, lo[q], a_lo), hi[q], a_hi);
        const __m512i isum = sum_quads(s[0], s[1], s[2], s[3]);
        // reference: isum * d_w * d_a, left to right
        const __m512 t = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(isum), dw),
                                       _mm512_set1_ps(f16_scalar(y)));
        sum[c] = _mm512_add_ps(sum[c], opaque(t));
      }
    }
    for (int c = 0; c < C; ++c) store_rows(a, g, c0 + c, sum[c]);
  }
};

struct Q8_0 {
  template <int C>
  static void tile(const MatmulArgs& a, const RowGroup& g, int64_t c0) {
    const int64_t nb = a.k / quant::kQK8_0;
    const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
    const uint8_t* act[C];
    __m512 sum[C];
    for (int c = 0; c < C; ++c) {
      act[c] = activation_row(a, c0 + c);
      sum[c] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < nb; ++b) {
      const uint64_t off = static_cast<uint64_t>(b) * sizeof(BlockQ8_0);
      prefetch_rows(g, off);
      __m512i lo[4], hi[4];
      for (int q = 0; q < 4; ++q) {
        lo[q] = _mm512_xor_si512(load_quad(g, q, off + 2), bias);
        hi[q] = _mm512_xor_si512(load_quad(g, q, off + 18), bias);
      }
      const __m512 dw = low_f16_to_f32(load_dwords(g, off));
      for (int c = 0; c < C; ++c) {
        const uint8_t* y = act[c] + static_cast<uint64_t>(b) * sizeof(BlockQ8_0);
        const __m512i a_lo = broadcast16(y + 2);
        const __m512i a_hi = broadcast16(y + 18);
        const __m512i init = offset_init(bias, a_lo, a_hi);
        __m512i s[4];
        for (int q = 0; q < 4; ++q) s[q] = dpbusd(dpbusd(init, lo[q], a_lo), hi[q], a_hi);
        const __m512i isum = sum_quads(s[0], s[1], s[2], s[3]);
        // reference: isum * (d_w * d_a)
        const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(isum),
                                       _mm512_mul_ps(dw, _mm512_set1_ps(f16_scalar(y))));
        sum[c] = _mm512_add_ps(sum[c], opaque(t));
      }
    }
    for (int c = 0; c < C; ++c) store_rows(a, g, c0 + c, sum[c]);
  }
};

struct Q4_1 {
  template <int C>
  static void tile(const MatmulArgs& a, const RowGroup& g, int64_t c0) {
    const int64_t nb = a.k / quant::kQK4_1;
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    const uint8_t* act[C];
    __m512 sum[C];
    for (int c = 0; c < C; ++c) {
      act[c] = activation_row(a, c0 + c);
      sum[c] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < nb; ++b) {
      const uint64_t off = static_cast<uint64_t>(b) * sizeof(BlockQ4_1);
      if (b % 2 == 0) prefetch_rows(g, off);
      __m512i lo[4], hi[4];
      for (int q = 0; q < 4; ++q) {
        const __m512i raw = load_quad(g, q, off + 4);
        lo[q] = _mm512_and_si512(raw, low4);
        hi[q] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), low4);
      }
      const __m512i dm = load_dwords(g, off);
      const __m512 dw = low_f16_to_f32(dm);
      const __m512 mw = high_f16_to_f32(dm);
      for (int c = 0; c < C; ++c) {
        const uint8_t* y = act[c] + static_cast<uint64_t>(b) * sizeof(BlockQ8_1);
        const __m512i a_lo = broadcast16(y + 4);
        const __m512i a_hi = broadcast16(y + 20);
        __m512i s[4];
        for (int q = 0; q < 4; ++q) {
          s[q] = dpbusd(dpbusd(_mm512_setzero_si512(), lo[q], a_lo), hi[q], a_hi);
        }
        const __m512i isum = sum_quads(s[0], s[1], s[2], s[3]);
        // reference: d_w * d_a * isum + m * s
        const __m512 scaled = _mm512_mul_ps(_mm512_mul_ps(dw, _mm512_set1_ps(f16_scalar(y))),
                                            _mm512_cvtepi32_ps(isum));
        const __m512 offset = _mm512_mul_ps(mw, _mm512_set1_ps(f16_scalar(y + 2)));
        sum[c] = _mm512_add_ps(sum[c], _mm512_add_ps(opaque(scaled), opaque(offset)));
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

}  // namespace lathe::kernels::x86::avx512
