// AVX2 attention: the vector policy for attention_impl.h (8 f32 lanes).
#include "kernels/cpu/x86/common_avx2.h"
#include "kernels/cpu/x86/exp_avx2.h"
#include "kernels/cpu/x86/static_for.h"
#include "kernels/cpu/x86/x86_kernels.h"
#include "quant/blocks.h"

namespace lathe::kernels::x86::avx2 {

namespace {

struct Simd {
  using V = __m256;
  static constexpr int kLanes = 8;
  // The P·V tile: 2 rows × 4 vectors in registers (8 of the 16 ymm, 4 more for V).
  static constexpr int kPvRows = 2;
  static constexpr int kPvCols = 4;

  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static float reduce_max(V v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
  }
  static float reduce_add(V v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
  }
  static V exp(V v) { return exp_ps(v); }

  // Lanes whose bit is clear become −inf.
  static V keep(V v, uint32_t bits) {
    const __m256i lane_bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256i set = _mm256_cmpeq_epi32(
        _mm256_and_si256(_mm256_set1_epi32(static_cast<int>(bits & 0xff)), lane_bits), lane_bits);
    return _mm256_blendv_ps(_mm256_set1_ps(-__builtin_inff()), v, _mm256_castsi256_ps(set));
  }
  static V round_f16(V v) {
    return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }

  struct DoubleSum {
    __m256d lo, hi;
  };
  static void add_double(DoubleSum& s, V v) {
    s.lo = _mm256_add_pd(s.lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    s.hi = _mm256_add_pd(s.hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
  }
  static double reduce_double(const DoubleSum& s) {
    const __m256d v = _mm256_add_pd(s.lo, s.hi);
    const __m128d t = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(t, _mm_unpackhi_pd(t, t)));
  }

  // a[j] → lane j holds the sum of a[j]'s 8 lanes (see attention_avx512.cpp; one level less).
  static V hsum(const V (&a)[8]) {
    V b[4];
    static_for<4>([&](auto k) {
      b[k] = _mm256_add_ps(_mm256_unpacklo_ps(a[2 * k], a[2 * k + 1]),
                           _mm256_unpackhi_ps(a[2 * k], a[2 * k + 1]));
    });
    V c[2];
    static_for<2>([&](auto k) {
      const __m256d x = _mm256_castps_pd(b[2 * k]), y = _mm256_castps_pd(b[2 * k + 1]);
      c[k] = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(x, y)),
                           _mm256_castpd_ps(_mm256_unpackhi_pd(x, y)));
    });
    return _mm256_add_ps(_mm256_permute2f128_ps(c[0], c[1], 0x20),
                         _mm256_permute2f128_ps(c[0], c[1], 0x31));
  }

  static void f16_to_f32(const uint16_t* src, float* dst, int64_t d) {
    for (int64_t i = 0; i < d; i += 8) {
      _mm256_storeu_ps(dst + i,
                       _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
    }
  }
  static void q8_0_to_f32(const quant::BlockQ8_0* x, float* dst, int64_t d) {
    for (int64_t b = 0; b < d / quant::kQK8_0; ++b) {
      const __m256 scale = _mm256_set1_ps(f16_scalar(&x[b].d));
      for (int j = 0; j < 32; j += 8) {
        const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(x[b].qs + j));
        _mm256_storeu_ps(dst + 32 * b + j,
                         _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), scale));
      }
    }
  }
  static void q4_0_to_f32(const quant::BlockQ4_0* x, float* dst, int64_t d) {
    const __m128i low4 = _mm_set1_epi8(0x0f);
    const __m128i eight = _mm_set1_epi8(8);
    for (int64_t b = 0; b < d / quant::kQK4_0; ++b) {
      const __m256 scale = _mm256_set1_ps(f16_scalar(&x[b].d));
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].qs));
      const __m128i halves[2] = {_mm_sub_epi8(_mm_and_si128(q, low4), eight),
                                 _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), low4), eight)};
      for (int h = 0; h < 2; ++h) {
        const __m128i upper = _mm_unpackhi_epi64(halves[h], halves[h]);
        _mm256_storeu_ps(dst + 32 * b + 16 * h,
                         _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(halves[h])), scale));
        _mm256_storeu_ps(dst + 32 * b + 16 * h + 8,
                         _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(upper)), scale));
      }
    }
  }
};

}  // namespace

}  // namespace lathe::kernels::x86::avx2

#define LATHE_ATTENTION_ISA avx2
#include "kernels/cpu/x86/attention_impl.h"

namespace lathe::kernels::x86::avx2 {

void install_attention(KernelTable& table) {
  table.attention = &attention<Simd>;
}

}  // namespace lathe::kernels::x86::avx2
