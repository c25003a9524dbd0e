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
  // Register tiles (16 ymm): scores of 2 rows × 4 cells (8 accumulators, 4 K vectors); P·V of
  // 2 rows × 4 vectors of the head (8 accumulators, 4 V vectors).
  static constexpr int kScoreRows = 2;
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

  // The sums of a[0..3]'s 8 lanes (see attention_avx512.cpp).
  static __m128 hsum4(const V (&a)[4]) {
    const V b0 = _mm256_add_ps(_mm256_unpacklo_ps(a[0], a[1]), _mm256_unpackhi_ps(a[0], a[1]));
    const V b1 = _mm256_add_ps(_mm256_unpacklo_ps(a[2], a[3]), _mm256_unpackhi_ps(a[2], a[3]));
    const __m256d x = _mm256_castps_pd(b0), y = _mm256_castps_pd(b1);
    const V c = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(x, y)),
                              _mm256_castpd_ps(_mm256_unpackhi_pd(x, y)));
    return _mm_add_ps(_mm256_castps256_ps128(c), _mm256_extractf128_ps(c, 1));
  }

  // Loaders: vector C (values 8C .. 8C + 7) of a cache row, as f32, exactly as the reference
  // dequantizes it.
  struct F32 {
    template <int C>
    static V load(const uint8_t* row) {
      return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + 8 * C);
    }
  };
  struct F16 {
    template <int C>
    static V load(const uint8_t* row) {
      return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row) + C));
    }
  };
  struct Q8_0 {
    template <int C>
    static V load(const uint8_t* row) {
      const auto* block = reinterpret_cast<const quant::BlockQ8_0*>(row) + C / 4;
      const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(block->qs + 8 * (C % 4)));
      return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)),
                           _mm256_set1_ps(f16_scalar(&block->d)));
    }
  };
  struct Q4_0 {
    // Values 0..15 of a block are the low nibbles of bytes 0..15, values 16..31 the high ones.
    template <int C>
    static V load(const uint8_t* row) {
      const auto* block = reinterpret_cast<const quant::BlockQ4_0*>(row) + C / 4;
      __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(block->qs + 8 * (C % 2)));
      if constexpr (C % 4 >= 2) q = _mm_srli_epi16(q, 4);
      q = _mm_sub_epi8(_mm_and_si128(q, _mm_set1_epi8(0x0f)), _mm_set1_epi8(8));
      return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)),
                           _mm256_set1_ps(f16_scalar(&block->d)));
    }
  };
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
