// AVX-512 attention: the vector policy for attention_impl.h (16 f32 lanes).
#include "kernels/cpu/x86/common_avx512.h"
#include "kernels/cpu/x86/exp_avx512.h"
#include "kernels/cpu/x86/static_for.h"
#include "kernels/cpu/x86/x86_kernels.h"
#include "quant/blocks.h"

namespace lathe::kernels::x86::avx512 {

namespace {

struct Simd {
  using V = __m512;
  static constexpr int kLanes = 16;
  // The P·V tile: 4 rows × 4 vectors of head_dim in registers (16 of the 32 zmm).
  static constexpr int kPvRows = 4;
  static constexpr int kPvCols = 4;

  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static float reduce_max(V v) { return _mm512_reduce_max_ps(v); }
  static float reduce_add(V v) { return _mm512_reduce_add_ps(v); }
  static V exp(V v) { return exp_ps(v); }

  // Lanes whose bit is clear become −inf.
  static V keep(V v, uint32_t bits) {
    return _mm512_mask_blend_ps(static_cast<__mmask16>(bits), _mm512_set1_ps(kNegInfinity), v);
  }
  static V round_f16(V v) {
    return _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }

  struct DoubleSum {
    __m512d lo, hi;
  };
  static void add_double(DoubleSum& s, V v) {
    s.lo = _mm512_add_pd(s.lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    s.hi = _mm512_add_pd(
        s.hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
  }
  static double reduce_double(const DoubleSum& s) {
    return _mm512_reduce_add_pd(_mm512_add_pd(s.lo, s.hi));
  }

  // a[j] → lane j of the result holds the sum of a[j]'s 16 lanes. Two in-lane unpack levels
  // leave, in 128-bit lane L of c[k], the partial sums of a[4k..4k+3] over their lane L; a 4×4
  // transpose of 128-bit lanes then adds the four partials. 30 shuffles and 15 adds for 16 sums.
  static V hsum(const V (&a)[16]) {
    V b[8];
    static_for<8>([&](auto k) {
      b[k] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * k], a[2 * k + 1]),
                           _mm512_unpackhi_ps(a[2 * k], a[2 * k + 1]));
    });
    V c[4];
    static_for<4>([&](auto k) {
      const __m512d x = _mm512_castps_pd(b[2 * k]), y = _mm512_castps_pd(b[2 * k + 1]);
      c[k] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)),
                           _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
    });
    const V f01 = _mm512_add_ps(_mm512_shuffle_f32x4(c[0], c[1], 0x88),
                                _mm512_shuffle_f32x4(c[0], c[1], 0xdd));
    const V f23 = _mm512_add_ps(_mm512_shuffle_f32x4(c[2], c[3], 0x88),
                                _mm512_shuffle_f32x4(c[2], c[3], 0xdd));
    return _mm512_add_ps(_mm512_shuffle_f32x4(f01, f23, 0x88),
                         _mm512_shuffle_f32x4(f01, f23, 0xdd));
  }

  // Rows of the cache as f32, exactly as the reference dequantizes them (d is a multiple of 16,
  // and of 32 for the block formats).
  static void f16_to_f32(const uint16_t* src, float* dst, int64_t d) {
    for (int64_t i = 0; i < d; i += 16) {
      _mm512_storeu_ps(
          dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i))));
    }
  }
  static void q8_0_to_f32(const quant::BlockQ8_0* x, float* dst, int64_t d) {
    for (int64_t b = 0; b < d / quant::kQK8_0; ++b) {
      const __m512 scale = _mm512_set1_ps(f16_scalar(&x[b].d));
      for (int h = 0; h < 2; ++h) {
        const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].qs + 16 * h));
        _mm512_storeu_ps(dst + 32 * b + 16 * h,
                         _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), scale));
      }
    }
  }
  static void q4_0_to_f32(const quant::BlockQ4_0* x, float* dst, int64_t d) {
    const __m128i low4 = _mm_set1_epi8(0x0f);
    const __m128i eight = _mm_set1_epi8(8);
    for (int64_t b = 0; b < d / quant::kQK4_0; ++b) {
      const __m512 scale = _mm512_set1_ps(f16_scalar(&x[b].d));
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].qs));
      // Element j < 16 is the low nibble of byte j, element 16 + j its high nibble.
      const __m128i lo = _mm_sub_epi8(_mm_and_si128(q, low4), eight);
      const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), low4), eight);
      _mm512_storeu_ps(dst + 32 * b,
                       _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo)), scale));
      _mm512_storeu_ps(dst + 32 * b + 16,
                       _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi)), scale));
    }
  }

  static constexpr float kNegInfinity = -__builtin_inff();
};

}  // namespace

}  // namespace lathe::kernels::x86::avx512

#define LATHE_ATTENTION_ISA avx512
#include "kernels/cpu/x86/attention_impl.h"

namespace lathe::kernels::x86::avx512 {

void install_attention(KernelTable& table) {
  table.attention = &attention<Simd>;
}

}  // namespace lathe::kernels::x86::avx512
