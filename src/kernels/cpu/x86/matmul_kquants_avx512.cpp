// AVX-512 VNNI matmuls of the 256-weight super-block formats, all dotted with q8_K activations:
// IQ4_XS, Q4_K and Q6_K. Same row-group layout as matmul_q32_avx512.cpp (see common_avx512.h).
//
// The integer part of each super-block is exact (sub-block sums times integer sub-block scales),
// and the float part follows the reference expression by expression, so these return the
// reference's bits. Sub-block scales are unpacked once per group of 16 rows and reused for every
// activation row of the tile.
#include "kernels/cpu/x86/common_avx512.h"
#include "kernels/cpu/x86/x86_kernels.h"
#include "quant/blocks.h"

namespace lathe::kernels::x86::avx512 {

namespace {

using quant::BlockIQ4_XS;
using quant::BlockQ4_K;
using quant::BlockQ6_K;
using quant::BlockQ8_K;

constexpr uint64_t kQ8KQs = offsetof(BlockQ8_K, qs);
constexpr uint64_t kQ8KBsums = offsetof(BlockQ8_K, bsums);

inline float q8k_d(const uint8_t* y) {
  float d;
  std::memcpy(&d, y, sizeof(d));
  return d;
}

// The four 32-bit words of each row's 16 bytes, one register per word, rows in order.
struct Words {
  __m512i w0, w1, w2, w3;
};
inline Words transpose_words(__m512i q0, __m512i q1, __m512i q2, __m512i q3) {
  const __m512i u01 = _mm512_unpacklo_epi32(q0, q1), v01 = _mm512_unpackhi_epi32(q0, q1);
  const __m512i u23 = _mm512_unpacklo_epi32(q2, q3), v23 = _mm512_unpackhi_epi32(q2, q3);
  return {_mm512_unpacklo_epi64(u01, u23), _mm512_unpackhi_epi64(u01, u23),
          _mm512_unpacklo_epi64(v01, v23), _mm512_unpackhi_epi64(v01, v23)};
}

struct IQ4_XS {
  template <int C>
  static void tile(const MatmulArgs& a, const RowGroup& g, int64_t c0) {
    const int64_t nb = a.k / quant::kQK_K;
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
    // kIQ4NLValues + 128: vpshufb looks the nibbles up already biased to unsigned.
    const __m512i lut = _mm512_broadcast_i32x4(_mm_setr_epi8(
        1, 24, 45, 63, 79, 93, 106, 118, static_cast<char>(129), static_cast<char>(141),
        static_cast<char>(153), static_cast<char>(166), static_cast<char>(181),
        static_cast<char>(197), static_cast<char>(217), static_cast<char>(241)));
    const uint8_t* act[C];
    __m512 sum[C];
    for (int c = 0; c < C; ++c) {
      act[c] = activation_row(a, c0 + c);
      sum[c] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < nb; ++b) {
      const uint64_t off = static_cast<uint64_t>(b) * sizeof(BlockIQ4_XS);
      // d | scales_h << 16, and scales_l, per row
      const __m512i head = load_dwords(g, off);
      const __m512i scales_l = load_dwords(g, off + 4);
      const __m512 dw = low_f16_to_f32(head);
      __m512 d[C];
      for (int c = 0; c < C; ++c) {
        d[c] = _mm512_mul_ps(dw, _mm512_set1_ps(q8k_d(act[c] + b * sizeof(BlockQ8_K))));
      }
      for (int ib = 0; ib < quant::kQK_K / 32; ++ib) {
        if (ib % 4 == 0) prefetch_rows(g, off + 17 * ib);
        const __m512i ls = _mm512_or_si512(
            _mm512_and_si512(_mm512_srli_epi32(scales_l, 4 * ib), _mm512_set1_epi32(0xf)),
            _mm512_slli_epi32(
                _mm512_and_si512(_mm512_srli_epi32(head, 16 + 2 * ib), _mm512_set1_epi32(3)), 4));
        const __m512 lsf = _mm512_cvtepi32_ps(_mm512_sub_epi32(ls, _mm512_set1_epi32(32)));
        __m512i lo[4], hi[4];
        for (int q = 0; q < 4; ++q) {
          const __m512i raw = load_quad(g, q, off + 8 + 16 * ib);
          lo[q] = _mm512_shuffle_epi8(lut, _mm512_and_si512(raw, low4));
          hi[q] = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(raw, 4), low4));
        }
        for (int c = 0; c < C; ++c) {
          const uint8_t* y = act[c] + b * sizeof(BlockQ8_K) + kQ8KQs + 32 * ib;
          const __m512i a_lo = broadcast16(y);
          const __m512i a_hi = broadcast16(y + 16);
          const __m512i init = offset_init(bias, a_lo, a_hi);
          __m512i s[4];
          for (int q = 0; q < 4; ++q) s[q] = dpbusd(dpbusd(init, lo[q], a_lo), hi[q], a_hi);
          const __m512i isum = sum_quads(s[0], s[1], s[2], s[3]);
          // reference: d * ls * isum, with d = d_w * d_a
          const __m512 t = _mm512_mul_ps(_mm512_mul_ps(d[c], lsf), _mm512_cvtepi32_ps(isum));
          sum[c] = _mm512_add_ps(sum[c], opaque(t));
        }
      }
    }
    for (int c = 0; c < C; ++c) store_rows(a, g, c0 + c, sum[c]);
  }
};

struct Q4_K {
  template <int C>
  static void tile(const MatmulArgs& a, const RowGroup& g, int64_t c0) {
    const int64_t nb = a.k / quant::kQK_K;
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    const __m512i low6 = _mm512_set1_epi32(63);
    const __m512i low4d = _mm512_set1_epi32(0xf);
    const __m512i low2d = _mm512_set1_epi32(3);
    const uint8_t* act[C];
    __m512 sum[C];
    for (int c = 0; c < C; ++c) {
      act[c] = activation_row(a, c0 + c);
      sum[c] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < nb; ++b) {
      const uint64_t off = static_cast<uint64_t>(b) * sizeof(BlockQ4_K);
      // d | dmin << 16 and the 12 scale bytes, per row
      const Words h = transpose_words(load_quad(g, 0, off), load_quad(g, 1, off),
                                      load_quad(g, 2, off), load_quad(g, 3, off));
      // Sub-block j's 6-bit scale and min (see quant::unpack_q4_k_scale_min).
      const auto scale = [&](int j) {
        if (j < 4) return _mm512_and_si512(_mm512_srli_epi32(h.w1, 8 * j), low6);
        return _mm512_or_si512(
            _mm512_and_si512(_mm512_srli_epi32(h.w3, 8 * (j - 4)), low4d),
            _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(h.w1, 8 * (j - 4) + 6), low2d),
                              4));
      };
      const auto min = [&](int j) {
        if (j < 4) return _mm512_and_si512(_mm512_srli_epi32(h.w2, 8 * j), low6);
        return _mm512_or_si512(
            _mm512_and_si512(_mm512_srli_epi32(h.w3, 8 * (j - 4) + 4), low4d),
            _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(h.w2, 8 * (j - 4) + 6), low2d),
                              4));
      };
      __m512i scaled[C];
      for (int c = 0; c < C; ++c) scaled[c] = _mm512_setzero_si512();
      for (int k = 0; k < 4; ++k) {
        prefetch_rows(g, off + 36 * k);
        // qs[32k .. 32k+31]: low nibbles are sub-block 2k, high nibbles sub-block 2k+1.
        __m512i r0[4], r1[4];
        for (int q = 0; q < 4; ++q) {
          r0[q] = load_quad(g, q, off + 16 + 32 * k);
          r1[q] = load_quad(g, q, off + 32 + 32 * k);
        }
        for (int half = 0; half < 2; ++half) {
          const int j = 2 * k + half;
          __m512i w0[4], w1[4];
          for (int q = 0; q < 4; ++q) {
            w0[q] = _mm512_and_si512(half ? _mm512_srli_epi16(r0[q], 4) : r0[q], low4);
            w1[q] = _mm512_and_si512(half ? _mm512_srli_epi16(r1[q], 4) : r1[q], low4);
          }
          const __m512i sc = scale(j);
          for (int c = 0; c < C; ++c) {
            const uint8_t* y = act[c] + b * sizeof(BlockQ8_K) + kQ8KQs + 32 * j;
            const __m512i a_lo = broadcast16(y);
            const __m512i a_hi = broadcast16(y + 16);
            __m512i s[4];
            for (int q = 0; q < 4; ++q) {
              s[q] = dpbusd(dpbusd(_mm512_setzero_si512(), w0[q], a_lo), w1[q], a_hi);
            }
            scaled[c] = _mm512_add_epi32(scaled[c],
                                         _mm512_mullo_epi32(sc, sum_quads(s[0], s[1], s[2], s[3])));
          }
        }
      }
      const __m512 dw = low_f16_to_f32(h.w0);
      const __m512 dmin = high_f16_to_f32(h.w0);
      for (int c = 0; c < C; ++c) {
        const uint8_t* y = act[c] + b * sizeof(BlockQ8_K);
        __m512i mins = _mm512_setzero_si512();
        for (int j = 0; j < quant::kQK_K / 32; ++j) {
          int16_t s0, s1;
          std::memcpy(&s0, y + kQ8KBsums + 4 * j, 2);
          std::memcpy(&s1, y + kQ8KBsums + 4 * j + 2, 2);
          mins = _mm512_add_epi32(mins, _mm512_mullo_epi32(min(j), _mm512_set1_epi32(s0 + s1)));
        }
        // reference: d * d_a * scaled - dmin * d_a * mins
        const __m512 yd = _mm512_set1_ps(q8k_d(y));
        const __m512 pos = _mm512_mul_ps(_mm512_mul_ps(dw, yd), _mm512_cvtepi32_ps(scaled[c]));
        const __m512 neg = _mm512_mul_ps(_mm512_mul_ps(dmin, yd), _mm512_cvtepi32_ps(mins));
        sum[c] = _mm512_add_ps(sum[c], _mm512_sub_ps(opaque(pos), opaque(neg)));
      }
    }
    for (int c = 0; c < C; ++c) store_rows(a, g, c0 + c, sum[c]);
  }
};

struct Q6_K {
  template <int C>
  static void tile(const MatmulArgs& a, const RowGroup& g, int64_t c0) {
    const int64_t nb = a.k / quant::kQK_K;
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    const __m512i bits45 = _mm512_set1_epi8(0x30);
    const __m512i bias = _mm512_set1_epi8(32);
    const uint8_t* act[C];
    __m512 sum[C];
    for (int c = 0; c < C; ++c) {
      act[c] = activation_row(a, c0 + c);
      sum[c] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < nb; ++b) {
      const uint64_t off = static_cast<uint64_t>(b) * sizeof(BlockQ6_K);
      const uint64_t ql_off = off + offsetof(BlockQ6_K, ql);
      const uint64_t qh_off = off + offsetof(BlockQ6_K, qh);
      __m512i scales[4];  // 16 signed scale bytes per row, quad layout
      for (int q = 0; q < 4; ++q) scales[q] = load_quad(g, q, off + offsetof(BlockQ6_K, scales));
      // Integer sums stay in quad layout (four partial lanes per row) until the end of the
      // super-block: each of the 16 sub-blocks multiplies its lanes by its scale, sign-extended
      // into every 32-bit lane of its row with one byte shuffle and an arithmetic shift.
      __m512i acc[C][4];
      for (int c = 0; c < C; ++c) {
        for (int q = 0; q < 4; ++q) acc[c][q] = _mm512_setzero_si512();
      }
      for (int h = 0; h < 2; ++h) {
        for (int lh = 0; lh < 2; ++lh) {
          prefetch_rows(g, off + 105 * h + 52 * lh);
          __m512i qh[4];
          for (int q = 0; q < 4; ++q) qh[q] = load_quad(g, q, qh_off + 32 * h + 16 * lh);
          for (int kk = 0; kk < 2; ++kk) {
            __m512i ql[4];
            for (int q = 0; q < 4; ++q)
              ql[q] = load_quad(g, q, ql_off + 64 * h + 32 * kk + 16 * lh);
            for (int nib = 0; nib < 2; ++nib) {
              // Weights l = 16*lh .. 16*lh+15 of group k = kk + 2*nib: sub-block 8h + 2k + lh.
              const int k = kk + 2 * nib;
              const int s = 8 * h + 2 * k + lh;
              __m512i w[4], sc[4];
              const __m512i pick = _mm512_set1_epi32(static_cast<int>(0x00808080u | (s << 24)));
              for (int q = 0; q < 4; ++q) {
                const __m512i low =
                    _mm512_and_si512(nib ? _mm512_srli_epi16(ql[q], 4) : ql[q], low4);
                const __m512i high =
                    2 * k >= 4 ? _mm512_and_si512(_mm512_srli_epi16(qh[q], 2 * k - 4), bits45)
                               : _mm512_and_si512(_mm512_slli_epi16(qh[q], 4 - 2 * k), bits45);
                w[q] = _mm512_or_si512(low, high);
                sc[q] = _mm512_srai_epi32(_mm512_shuffle_epi8(scales[q], pick), 24);
              }
              for (int c = 0; c < C; ++c) {
                const uint8_t* y = act[c] + b * sizeof(BlockQ8_K) + kQ8KQs + 16 * s;
                const __m512i av = broadcast16(y);
                const __m512i init = _mm512_sub_epi32(_mm512_setzero_si512(),
                                                      dpbusd(_mm512_setzero_si512(), bias, av));
                for (int q = 0; q < 4; ++q) {
                  acc[c][q] = _mm512_add_epi32(acc[c][q],
                                               _mm512_mullo_epi32(sc[q], dpbusd(init, w[q], av)));
                }
              }
            }
          }
        }
      }
      const __m512i tail = _mm512_unpackhi_epi64(
          _mm512_unpackhi_epi32(load_quad(g, 0, off + 194), load_quad(g, 1, off + 194)),
          _mm512_unpackhi_epi32(load_quad(g, 2, off + 194), load_quad(g, 3, off + 194)));
      const __m512 dw = high_f16_to_f32(tail);  // d is the last two bytes of the block
      for (int c = 0; c < C; ++c) {
        const __m512i scaled = sum_quads(acc[c][0], acc[c][1], acc[c][2], acc[c][3]);
        // reference: d * d_a * scaled
        const __m512 t =
            _mm512_mul_ps(_mm512_mul_ps(dw, _mm512_set1_ps(q8k_d(act[c] + b * sizeof(BlockQ8_K)))),
                          _mm512_cvtepi32_ps(scaled));
        sum[c] = _mm512_add_ps(sum[c], opaque(t));
      }
    }
    for (int c = 0; c < C; ++c) store_rows(a, g, c0 + c, sum[c]);
  }
};

}  // namespace

void install_matmul_kquants(KernelTable& table) {
  table.matmul[static_cast<size_t>(TensorType::kIQ4_XS)] = &matmul_groups<IQ4_XS, 4>;
  table.matmul[static_cast<size_t>(TensorType::kQ4_K)] = &matmul_groups<Q4_K, 2>;
  table.matmul[static_cast<size_t>(TensorType::kQ6_K)] = &matmul_groups<Q6_K, 1>;
}

}  // namespace lathe::kernels::x86::avx512
