// AVX2 matmuls of IQ4_XS, Q4_K and Q6_K (activations q8_K); the AVX2 counterpart of
// matmul_kquants_avx512.cpp, with groups of 8 rows (see common_avx2.h).
//
// Saturation of vpmaddubsw's 16-bit pairs: IQ4_XS's values are signed (|v| <= 127), so it uses
// |v| × (a with v's sign), at most 2 * 127 * 127 per pair; Q4_K's nibbles and Q6_K's 6-bit
// values (q + 32, the offset removed through the accumulator's starting value) are unsigned and
// stay under 2 * 63 * 127.
#include "kernels/cpu/x86/common_avx2.h"
#include "kernels/cpu/x86/x86_kernels.h"
#include "quant/blocks.h"

namespace lathe::kernels::x86::avx2 {

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

struct IQ4_XS {
  template <int C>
  static void tile(const MatmulArgs& a, const RowGroup& g, int64_t c0) {
    const int64_t nb = a.k / quant::kQK_K;
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i values = _mm256_broadcastsi128_si256(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(quant::kIQ4NLValues)));
    const __m256i magnitudes = _mm256_abs_epi8(values);
    const uint8_t* act[C];
    __m256 sum[C];
    for (int c = 0; c < C; ++c) {
      act[c] = activation_row(a, c0 + c);
      sum[c] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; ++b) {
      const uint64_t off = static_cast<uint64_t>(b) * sizeof(BlockIQ4_XS);
      const __m256i head = load_dwords(g, off);  // d | scales_h << 16
      const __m256i scales_l = load_dwords(g, off + 4);
      const __m256 dw = low_f16_to_f32(head);
      __m256 d[C];
      for (int c = 0; c < C; ++c) {
        d[c] = _mm256_mul_ps(dw, _mm256_set1_ps(q8k_d(act[c] + b * sizeof(BlockQ8_K))));
      }
      for (int ib = 0; ib < quant::kQK_K / 32; ++ib) {
        if (ib % 4 == 0) prefetch_rows(g, off + 17 * ib);
        const __m256i ls = _mm256_or_si256(
            _mm256_and_si256(_mm256_srli_epi32(scales_l, 4 * ib), _mm256_set1_epi32(0xf)),
            _mm256_slli_epi32(
                _mm256_and_si256(_mm256_srli_epi32(head, 16 + 2 * ib), _mm256_set1_epi32(3)), 4));
        const __m256 lsf = _mm256_cvtepi32_ps(_mm256_sub_epi32(ls, _mm256_set1_epi32(32)));
        __m256i v_lo[4], v_hi[4], m_lo[4], m_hi[4];
        for (int q = 0; q < 4; ++q) {
          const __m256i raw = load_quad(g, q, off + 8 + 16 * ib);
          const __m256i n_lo = _mm256_and_si256(raw, low4);
          const __m256i n_hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
          v_lo[q] = _mm256_shuffle_epi8(values, n_lo);
          v_hi[q] = _mm256_shuffle_epi8(values, n_hi);
          m_lo[q] = _mm256_shuffle_epi8(magnitudes, n_lo);
          m_hi[q] = _mm256_shuffle_epi8(magnitudes, n_hi);
        }
        for (int c = 0; c < C; ++c) {
          const uint8_t* y = act[c] + b * sizeof(BlockQ8_K) + kQ8KQs + 32 * ib;
          const __m256i a_lo = broadcast16(y);
          const __m256i a_hi = broadcast16(y + 16);
          __m256i s[4];
          for (int q = 0; q < 4; ++q) {
            s[q] = _mm256_add_epi32(
                widen(_mm256_maddubs_epi16(m_lo[q], _mm256_sign_epi8(a_lo, v_lo[q]))),
                widen(_mm256_maddubs_epi16(m_hi[q], _mm256_sign_epi8(a_hi, v_hi[q]))));
          }
          const __m256i isum = sum_quads(s[0], s[1], s[2], s[3]);
          const __m256 t = _mm256_mul_ps(_mm256_mul_ps(d[c], lsf), _mm256_cvtepi32_ps(isum));
          sum[c] = _mm256_add_ps(sum[c], opaque(t));
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
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i low6 = _mm256_set1_epi32(63);
    const __m256i low4d = _mm256_set1_epi32(0xf);
    const __m256i low2d = _mm256_set1_epi32(3);
    const uint8_t* act[C];
    __m256 sum[C];
    for (int c = 0; c < C; ++c) {
      act[c] = activation_row(a, c0 + c);
      sum[c] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; ++b) {
      const uint64_t off = static_cast<uint64_t>(b) * sizeof(BlockQ4_K);
      const Words h = transpose_words(load_quad(g, 0, off), load_quad(g, 1, off),
                                      load_quad(g, 2, off), load_quad(g, 3, off));
      const auto scale = [&](int j) {
        if (j < 4) return _mm256_and_si256(_mm256_srli_epi32(h.w1, 8 * j), low6);
        return _mm256_or_si256(
            _mm256_and_si256(_mm256_srli_epi32(h.w3, 8 * (j - 4)), low4d),
            _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(h.w1, 8 * (j - 4) + 6), low2d),
                              4));
      };
      const auto min = [&](int j) {
        if (j < 4) return _mm256_and_si256(_mm256_srli_epi32(h.w2, 8 * j), low6);
        return _mm256_or_si256(
            _mm256_and_si256(_mm256_srli_epi32(h.w3, 8 * (j - 4) + 4), low4d),
            _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(h.w2, 8 * (j - 4) + 6), low2d),
                              4));
      };
      __m256i scaled[C];
      for (int c = 0; c < C; ++c) scaled[c] = _mm256_setzero_si256();
      for (int k = 0; k < 4; ++k) {
        prefetch_rows(g, off + 36 * k);
        __m256i r0[4], r1[4];
        for (int q = 0; q < 4; ++q) {
          r0[q] = load_quad(g, q, off + 16 + 32 * k);
          r1[q] = load_quad(g, q, off + 32 + 32 * k);
        }
        for (int half = 0; half < 2; ++half) {
          const int j = 2 * k + half;
          __m256i w0[4], w1[4];
          for (int q = 0; q < 4; ++q) {
            w0[q] = _mm256_and_si256(half ? _mm256_srli_epi16(r0[q], 4) : r0[q], low4);
            w1[q] = _mm256_and_si256(half ? _mm256_srli_epi16(r1[q], 4) : r1[q], low4);
          }
          const __m256i sc = scale(j);
          for (int c = 0; c < C; ++c) {
            const uint8_t* y = act[c] + b * sizeof(BlockQ8_K) + kQ8KQs + 32 * j;
            const __m256i a_lo = broadcast16(y);
            const __m256i a_hi = broadcast16(y + 16);
            __m256i s[4];
            for (int q = 0; q < 4; ++q) {
              s[q] = widen(_mm256_add_epi16(_mm256_maddubs_epi16(w0[q], a_lo),
                                            _mm256_maddubs_epi16(w1[q], a_hi)));
            }
            scaled[c] = _mm256_add_epi32(scaled[c],
                                         _mm256_mullo_epi32(sc, sum_quads(s[0], s[1], s[2], s[3])));
          }
        }
      }
      const __m256 dw = low_f16_to_f32(h.w0);
      const __m256 dmin = high_f16_to_f32(h.w0);
      for (int c = 0; c < C; ++c) {
        const uint8_t* y = act[c] + b * sizeof(BlockQ8_K);
        __m256i mins = _mm256_setzero_si256();
        for (int j = 0; j < quant::kQK_K / 32; ++j) {
          int16_t s0, s1;
          std::memcpy(&s0, y + kQ8KBsums + 4 * j, 2);
          std::memcpy(&s1, y + kQ8KBsums + 4 * j + 2, 2);
          mins = _mm256_add_epi32(mins, _mm256_mullo_epi32(min(j), _mm256_set1_epi32(s0 + s1)));
        }
        const __m256 yd = _mm256_set1_ps(q8k_d(y));
        const __m256 pos = _mm256_mul_ps(_mm256_mul_ps(dw, yd), _mm256_cvtepi32_ps(scaled[c]));
        const __m256 neg = _mm256_mul_ps(_mm256_mul_ps(dmin, yd), _mm256_cvtepi32_ps(mins));
        sum[c] = _mm256_add_ps(sum[c], _mm256_sub_ps(opaque(pos), opaque(neg)));
      }
    }
    for (int c = 0; c < C; ++c) store_rows(a, g, c0 + c, sum[c]);
  }
};

struct Q6_K {
  template <int C>
  static void tile(const MatmulArgs& a, const RowGroup& g, int64_t c0) {
    const int64_t nb = a.k / quant::kQK_K;
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i bits45 = _mm256_set1_epi8(0x30);
    const __m256i bias = _mm256_set1_epi8(32);
    const uint8_t* act[C];
    __m256 sum[C];
    for (int c = 0; c < C; ++c) {
      act[c] = activation_row(a, c0 + c);
      sum[c] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; ++b) {
      const uint64_t off = static_cast<uint64_t>(b) * sizeof(BlockQ6_K);
      const uint64_t ql_off = off + offsetof(BlockQ6_K, ql);
      const uint64_t qh_off = off + offsetof(BlockQ6_K, qh);
      __m256i scales[4];
      for (int q = 0; q < 4; ++q) scales[q] = load_quad(g, q, off + offsetof(BlockQ6_K, scales));
      __m256i acc[C][4];
      for (int c = 0; c < C; ++c) {
        for (int q = 0; q < 4; ++q) acc[c][q] = _mm256_setzero_si256();
      }
      for (int h = 0; h < 2; ++h) {
        for (int lh = 0; lh < 2; ++lh) {
          prefetch_rows(g, off + 105 * h + 52 * lh);
          __m256i qh[4];
          for (int q = 0; q < 4; ++q) qh[q] = load_quad(g, q, qh_off + 32 * h + 16 * lh);
          for (int kk = 0; kk < 2; ++kk) {
            __m256i ql[4];
            for (int q = 0; q < 4; ++q)
              ql[q] = load_quad(g, q, ql_off + 64 * h + 32 * kk + 16 * lh);
            for (int nib = 0; nib < 2; ++nib) {
              const int k = kk + 2 * nib;
              const int s = 8 * h + 2 * k + lh;
              const __m256i pick = _mm256_set1_epi32(static_cast<int>(0x00808080u | (s << 24)));
              __m256i w[4], sc[4];
              for (int q = 0; q < 4; ++q) {
                const __m256i low =
                    _mm256_and_si256(nib ? _mm256_srli_epi16(ql[q], 4) : ql[q], low4);
                const __m256i high =
                    2 * k >= 4 ? _mm256_and_si256(_mm256_srli_epi16(qh[q], 2 * k - 4), bits45)
                               : _mm256_and_si256(_mm256_slli_epi16(qh[q], 4 - 2 * k), bits45);
                w[q] = _mm256_or_si256(low, high);
                sc[q] = _mm256_srai_epi32(_mm256_shuffle_epi8(scales[q], pick), 24);
              }
              for (int c = 0; c < C; ++c) {
                const uint8_t* y = act[c] + b * sizeof(BlockQ8_K) + kQ8KQs + 16 * s;
                const __m256i av = broadcast16(y);
                const __m256i init = widen(_mm256_maddubs_epi16(bias, av));
                for (int q = 0; q < 4; ++q) {
                  const __m256i dot = _mm256_sub_epi32(widen(_mm256_maddubs_epi16(w[q], av)), init);
                  acc[c][q] = _mm256_add_epi32(acc[c][q], _mm256_mullo_epi32(sc[q], dot));
                }
              }
            }
          }
        }
      }
      const __m256i d_words = _mm256_unpackhi_epi64(
          _mm256_unpackhi_epi32(load_quad(g, 0, off + 194), load_quad(g, 1, off + 194)),
          _mm256_unpackhi_epi32(load_quad(g, 2, off + 194), load_quad(g, 3, off + 194)));
      const __m256 dw = high_f16_to_f32(d_words);
      for (int c = 0; c < C; ++c) {
        const __m256i scaled = sum_quads(acc[c][0], acc[c][1], acc[c][2], acc[c][3]);
        const __m256 t =
            _mm256_mul_ps(_mm256_mul_ps(dw, _mm256_set1_ps(q8k_d(act[c] + b * sizeof(BlockQ8_K)))),
                          _mm256_cvtepi32_ps(scaled));
        sum[c] = _mm256_add_ps(sum[c], opaque(t));
      }
    }
    for (int c = 0; c < C; ++c) store_rows(a, g, c0 + c, sum[c]);
  }
};

}  // namespace

void install_matmul_kquants(KernelTable& table) {
  table.matmul[static_cast<size_t>(TensorType::kIQ4_XS)] = &matmul_groups<IQ4_XS, 2>;
  table.matmul[static_cast<size_t>(TensorType::kQ4_K)] = &matmul_groups<Q4_K, 2>;
  table.matmul[static_cast<size_t>(TensorType::kQ6_K)] = &matmul_groups<Q6_K, 1>;
}

}  // namespace lathe::kernels::x86::avx2
