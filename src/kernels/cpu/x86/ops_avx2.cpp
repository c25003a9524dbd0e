// AVX2 elementwise operations of the forward pass: RMS norm, rope, SwiGLU, add and exp.
//
// The same operation order as ops_avx512.cpp (and the reference, ref/ops_ref.cpp). Tails: the
// reductions and products finish with the reference's scalar expressions; exp and SwiGLU copy the
// last partial vector to a padded buffer, so every element goes through the vectorized exp.
#include <cmath>
#include <cstring>

#include "kernels/cpu/ref/ref.h"
#include "kernels/cpu/x86/common_avx2.h"
#include "kernels/cpu/x86/exp_avx2.h"
#include "kernels/cpu/x86/x86_kernels.h"

namespace lathe::kernels::x86::avx2 {

namespace {

inline double hsum_pd(__m256d v) {
  const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

void rms_norm_row(const float* x, const float* w, int64_t n, float eps, float* y) {
  // Squares round in f32 as in the reference, and accumulate in double.
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256 sq = _mm256_mul_ps(v, v);
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(sq)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(sq, 1)));
  }
  double sum = hsum_pd(_mm256_add_pd(s0, s1));
  for (; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  const __m256 vscale = _mm256_set1_ps(scale);
  for (i = 0; i + 8 <= n; i += 8) {
    __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vscale);
    if (w != nullptr) v = _mm256_mul_ps(v, _mm256_loadu_ps(w + i));
    _mm256_storeu_ps(y + i, v);
  }
  for (; i < n; ++i) y[i] = w != nullptr ? (x[i] * scale) * w[i] : x[i] * scale;
}

void rope_head(float* x, const float* cache, const ops::RopeParams& p) {
  const __m256 one = _mm256_set1_ps(1.0f);
  if (p.mode == ops::RopeMode::kNormal) {
    // See ops_avx512.cpp: duplicate cos/sin over each pair, swap the pair, subtract on even lanes
    // and add on odd lanes, with the products rounded first as in the reference.
    int64_t i = 0;
    for (; i + 8 <= p.n_rot; i += 8) {
      const __m256 v = _mm256_loadu_ps(x + i);
      const __m256 cs = _mm256_loadu_ps(cache + i);
      const __m256 t1 = _mm256_mul_ps(v, _mm256_moveldup_ps(cs));
      const __m256 t2 = _mm256_mul_ps(_mm256_permute_ps(v, 0xb1), _mm256_movehdup_ps(cs));
      _mm256_storeu_ps(x + i, _mm256_fmaddsub_ps(t1, one, t2));
    }
    for (; i < p.n_rot; i += 2) {
      const float c = cache[i], s = cache[i + 1], x0 = x[i], x1 = x[i + 1];
      x[i] = x0 * c - x1 * s;
      x[i + 1] = x0 * s + x1 * c;
    }
    return;
  }
  const int64_t half = p.n_rot / 2;
  int64_t i = 0;
  for (; i + 8 <= half; i += 8) {
    // Even and odd floats of 16 cache values: cos and sin of pairs i..i+7.
    const __m256 a = _mm256_loadu_ps(cache + 2 * i);
    const __m256 b = _mm256_loadu_ps(cache + 2 * i + 8);
    const __m256 c = _mm256_castpd_ps(
        _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xd8));
    const __m256 s = _mm256_castpd_ps(
        _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xdd)), 0xd8));
    const __m256 x0 = _mm256_loadu_ps(x + i);
    const __m256 x1 = _mm256_loadu_ps(x + i + half);
    _mm256_storeu_ps(x + i, _mm256_sub_ps(_mm256_mul_ps(x0, c), _mm256_mul_ps(x1, s)));
    _mm256_storeu_ps(x + i + half, _mm256_add_ps(_mm256_mul_ps(x0, s), _mm256_mul_ps(x1, c)));
  }
  for (; i < half; ++i) {
    const float c = cache[2 * i], s = cache[2 * i + 1], x0 = x[i], x1 = x[i + half];
    x[i] = x0 * c - x1 * s;
    x[i + half] = x0 * s + x1 * c;
  }
}

inline __m256 silu_mul(__m256 g, __m256 u) {
  const __m256 e = exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), g));
  return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}

void swiglu(const float* gate, const float* up, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i, silu_mul(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  }
  if (i < n) {
    float g[8] = {}, u[8] = {}, o[8];
    const size_t bytes = static_cast<size_t>(n - i) * sizeof(float);
    std::memcpy(g, gate + i, bytes);
    std::memcpy(u, up + i, bytes);
    _mm256_storeu_ps(o, silu_mul(_mm256_loadu_ps(g), _mm256_loadu_ps(u)));
    std::memcpy(out + i, o, bytes);
  }
}

void add(float* x, const float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(x + i, _mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  }
  for (; i < n; ++i) x[i] += y[i];
}

void exp_rows(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp_ps(_mm256_loadu_ps(x + i)));
  if (i < n) {
    float t[8] = {};
    const size_t bytes = static_cast<size_t>(n - i) * sizeof(float);
    std::memcpy(t, x + i, bytes);
    _mm256_storeu_ps(t, exp_ps(_mm256_loadu_ps(t)));
    std::memcpy(y + i, t, bytes);
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

}  // namespace lathe::kernels::x86::avx2
