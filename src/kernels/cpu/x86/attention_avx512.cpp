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
  // Register tiles: scores of 4 rows × 4 cells (16 accumulators, 4 K vectors); P·V of 4 rows ×
  // 4 vectors of the head (16 accumulators, 4 V vectors).
  static constexpr int kScoreRows = 4;
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

  // The sums of a[0..3]'s 16 lanes: two in-lane unpack levels leave, in each 128-bit lane, the
  // four vectors' partial sums over that lane; the four lanes are then added.
  static __m128 hsum4(const V (&a)[4]) {
    const V b0 = _mm512_add_ps(_mm512_unpacklo_ps(a[0], a[1]), _mm512_unpackhi_ps(a[0], a[1]));
    const V b1 = _mm512_add_ps(_mm512_unpacklo_ps(a[2], a[3]), _mm512_unpackhi_ps(a[2], a[3]));
    const __m512d x = _mm512_castps_pd(b0), y = _mm512_castps_pd(b1);
    const V c = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)),
                              _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(c), _mm512_extractf32x8_ps(c, 1));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  }

  // Loaders: vector C (values 16C .. 16C + 15) of a cache row, as f32, exactly as the reference
  // dequantizes it.
  struct F32 {
    template <int C>
    static V load(const uint8_t* row) {
      return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + 16 * C);
    }
  };
  struct F16 {
    template <int C>
    static V load(const uint8_t* row) {
      return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row) + C));
    }
  };
  struct Q8_0 {
    template <int C>
    static V load(const uint8_t* row) {
      const auto* block = reinterpret_cast<const quant::BlockQ8_0*>(row) + C / 2;
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block->qs + 16 * (C % 2)));
      return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)),
                           _mm512_set1_ps(f16_scalar(&block->d)));
    }
  };
  struct Q4_0 {
    // Value j < 16 of a block is the low nibble of byte j, value 16 + j its high nibble.
    template <int C>
    static V load(const uint8_t* row) {
      const auto* block = reinterpret_cast<const quant::BlockQ4_0*>(row) + C / 2;
      __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block->qs));
      if constexpr (C % 2 == 1) q = _mm_srli_epi16(q, 4);
      q = _mm_sub_epi8(_mm_and_si128(q, _mm_set1_epi8(0x0f)), _mm_set1_epi8(8));
      return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)),
                           _mm512_set1_ps(f16_scalar(&block->d)));
    }
  };

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
