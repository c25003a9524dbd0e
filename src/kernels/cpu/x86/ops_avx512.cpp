// AVX-512 elementwise operations of the forward pass: RMS norm, rope, SwiGLU, add and exp.
//
// Each follows its reference in ref/ops_ref.cpp operation for operation (separate multiplies
// where the reference rounds a product before adding it, the sum of squares in double), so RMS
// norm, rope and add return the reference's bits except where the double sum of squares rounds
// differently in another order; SwiGLU differs only by the vectorized exp (exp_avx512.h).
// Tails are masked, so every element takes the same path.
#include <cmath>

#include "kernels/cpu/ref/ref.h"
#include "kernels/cpu/x86/common_avx512.h"
#include "kernels/cpu/x86/exp_avx512.h"
#include "kernels/cpu/x86/x86_kernels.h"

namespace lathe::kernels::x86::avx512 {

namespace {

// Lanes [0, n) of a 16-lane step (none for n ≤ 0).
inline __mmask16 tail(int64_t n) {
  if (n <= 0) return 0;
  return n >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1);
}

void rms_norm_row(const float* x, const float* w, int64_t n, float eps, float* y) {
  // Squares round in f32 as in the reference, and accumulate in double.
  __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
  for (int64_t i = 0; i < n; i += 16) {
    const __m512 v = _mm512_maskz_loadu_ps(tail(n - i), x + i);
    const __m512 sq = _mm512_mul_ps(v, v);
    s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(sq)));
    s1 = _mm512_add_pd(
        s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(sq), 1))));
  }
  const double sum = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const __m512 scale = _mm512_set1_ps(1.0f / std::sqrt(mean + eps));
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail(n - i);
    __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), scale);
    if (w != nullptr) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i));
    _mm512_mask_storeu_ps(y + i, m, v);
  }
}

void rope_head(float* x, const float* cache, const ops::RopeParams& p) {
  const __m512 one = _mm512_set1_ps(1.0f);
  if (p.mode == ops::RopeMode::kNormal) {
    // Pairs (x0, x1) are adjacent and so are (cos, sin) in the cache: duplicate cos and sin over
    // each pair, swap the pair's values, and combine with a subtract on even lanes and an add on
    // odd lanes. The products are rounded before the add/subtract, as in the reference.
    for (int64_t i = 0; i < p.n_rot; i += 16) {
      const __mmask16 m = tail(p.n_rot - i);
      const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
      const __m512 cs = _mm512_maskz_loadu_ps(m, cache + i);
      const __m512 t1 = _mm512_mul_ps(v, _mm512_moveldup_ps(cs));
      const __m512 t2 = _mm512_mul_ps(_mm512_permute_ps(v, 0xb1), _mm512_movehdup_ps(cs));
      _mm512_mask_storeu_ps(x + i, m, _mm512_fmaddsub_ps(t1, one, t2));
    }
    return;
  }
  // NeoX: x0 = x[i], x1 = x[i + n_rot/2]; cos and sin of pair i are cache[2i], cache[2i + 1].
  const int64_t half = p.n_rot / 2;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (int64_t i = 0; i < half; i += 16) {
    const __mmask16 m = tail(half - i);
    const int64_t pairs_left = 2 * (half - i);
    const __m512 a = _mm512_maskz_loadu_ps(tail(pairs_left), cache + 2 * i);
    const __m512 b = _mm512_maskz_loadu_ps(tail(pairs_left - 16), cache + 2 * i + 16);
    const __m512 c = _mm512_permutex2var_ps(a, even, b);
    const __m512 s = _mm512_permutex2var_ps(a, odd, b);
    const __m512 x0 = _mm512_maskz_loadu_ps(m, x + i);
    const __m512 x1 = _mm512_maskz_loadu_ps(m, x + i + half);
    _mm512_mask_storeu_ps(x + i, m, _mm512_sub_ps(_mm512_mul_ps(x0, c), _mm512_mul_ps(x1, s)));
    _mm512_mask_storeu_ps(x + i + half, m,
                          _mm512_add_ps(_mm512_mul_ps(x0, s), _mm512_mul_ps(x1, c)));
  }
}

void swiglu(const float* gate, const float* up, int64_t n, float* out) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail(n - i);
    const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
    const __m512 e = exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), g));
    const __m512 silu = _mm512_div_ps(g, _mm512_add_ps(one, e));
    _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(silu, _mm512_maskz_loadu_ps(m, up + i)));
  }
}

void add(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail(n - i);
    _mm512_mask_storeu_ps(
        x + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
  }
}

void exp_rows(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail(n - i);
    _mm512_mask_storeu_ps(y + i, m, exp_ps(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

}  // namespace

void install_ops(KernelTable& table) {
  table.rms_norm_row = &rms_norm_row;
  table.rope_head = &rope_head;
  table.swiglu = &swiglu;
  table.add = &add;
  table.exp = &exp_rows;
}

}  // namespace lathe::kernels::x86::avx512
