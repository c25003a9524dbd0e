// AVX2 single-row dot products and dequantization for the KV-cache formats (f16, bf16, f32, q8_0,
// q4_0): the attention kernel scores each cached key with `dot` and reads values through
// `dequantize_row`, and get_rows dequantizes embedding rows.
//
// q8_0 and q4_0 dots compute each block's integer sum exactly and then the reference's float
// expression in the reference's order, so they return the reference's bits. Float dots accumulate
// in 8 f32 lanes (the reference uses double), then sum the lanes in a fixed order.
#include "kernels/cpu/x86/common_avx2.h"
#include "kernels/cpu/x86/x86_kernels.h"
#include "quant/blocks.h"
#include "quant/fp16.h"

namespace lathe::kernels::x86::avx2 {

namespace {

using quant::BlockQ4_0;
using quant::BlockQ8_0;

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline int hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
  return _mm_cvtsi128_si32(s);
}

// The reference rounds each block's product before adding it to the sum; no FMA.
inline float opaque(float x) {
  __asm__("" : "+x"(x));
  return x;
}

inline __m256 load_f16(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline __m256 load_bf16(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

// Two accumulators (even and odd steps) hide the FMA latency; the tail is scalar, in f32.
template <class Load, class Scalar>
float dot_float(int64_t n, const uint16_t* x, const uint16_t* y, Load load, Scalar scalar) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_fmadd_ps(load(x + i), load(y + i), a0);
    a1 = _mm256_fmadd_ps(load(x + i + 8), load(y + i + 8), a1);
  }
  if (i + 8 <= n) {
    a0 = _mm256_fmadd_ps(load(x + i), load(y + i), a0);
    i += 8;
  }
  float s = hsum(_mm256_add_ps(a0, a1));
  for (; i < n; ++i) s += scalar(x[i]) * scalar(y[i]);
  return s;
}

float dot_f16(int64_t n, const void* row, const void* act) {
  return dot_float(n, static_cast<const uint16_t*>(row), static_cast<const uint16_t*>(act),
                   load_f16, quant::f16_to_f32);
}

float dot_bf16(int64_t n, const void* row, const void* act) {
  return dot_float(n, static_cast<const uint16_t*>(row), static_cast<const uint16_t*>(act),
                   load_bf16, quant::bf16_to_f32);
}

float dot_f32(int64_t n, const void* row, const void* act) {
  const auto* x = static_cast<const float*>(row);
  const auto* y = static_cast<const float*>(act);
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
  }
  if (i + 8 <= n) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    i += 8;
  }
  float s = hsum(_mm256_add_ps(a0, a1));
  for (; i < n; ++i) s += x[i] * y[i];
  return s;
}

// Exact integer sum of 32 signed × 32 signed bytes (|w| × (a with w's sign), see matmul_q32_avx2).
inline int dot32_s8(__m256i w, __m256i a) {
  return hsum_epi32(widen(_mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(a, w))));
}

float dot_q8_0(int64_t n, const void* row, const void* act) {
  const auto* x = static_cast<const BlockQ8_0*>(row);
  const auto* y = static_cast<const BlockQ8_0*>(act);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / quant::kQK8_0; ++b) {
    const int isum = dot32_s8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs)),
                              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b].qs)));
    sum += opaque(static_cast<float>(isum) * (f16_scalar(&x[b].d) * f16_scalar(&y[b].d)));
  }
  return sum;
}

float dot_q4_0(int64_t n, const void* row, const void* act) {
  const auto* x = static_cast<const BlockQ4_0*>(row);
  const auto* y = static_cast<const BlockQ8_0*>(act);
  const __m128i low4 = _mm_set1_epi8(0x0f);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / quant::kQK4_0; ++b) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].qs));
    const __m256i w = _mm256_sub_epi8(
        _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), low4), _mm_and_si128(q, low4)),
        _mm256_set1_epi8(8));
    const int isum = dot32_s8(w, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b].qs)));
    sum += opaque(static_cast<float>(isum) * f16_scalar(&x[b].d) * f16_scalar(&y[b].d));
  }
  return sum;
}

void dequantize_f16(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const uint16_t*>(src);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_f16(x + i));
  for (; i < n; ++i) dst[i] = quant::f16_to_f32(x[i]);
}

void dequantize_bf16(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const uint16_t*>(src);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_bf16(x + i));
  for (; i < n; ++i) dst[i] = quant::bf16_to_f32(x[i]);
}

void dequantize_q8_0(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ8_0*>(src);
  for (int64_t b = 0; b < n / quant::kQK8_0; ++b) {
    const __m256 d = _mm256_set1_ps(f16_scalar(&x[b].d));
    for (int j = 0; j < 32; j += 8) {
      const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(x[b].qs + j));
      _mm256_storeu_ps(dst + b * 32 + j,
                       _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d));
    }
  }
}

void dequantize_q4_0(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ4_0*>(src);
  const __m128i low4 = _mm_set1_epi8(0x0f);
  const __m128i eight = _mm_set1_epi8(8);
  for (int64_t b = 0; b < n / quant::kQK4_0; ++b) {
    const __m256 d = _mm256_set1_ps(f16_scalar(&x[b].d));
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].qs));
    const __m128i halves[2] = {_mm_sub_epi8(_mm_and_si128(q, low4), eight),
                               _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), low4), eight)};
    for (int h = 0; h < 2; ++h) {
      for (int j = 0; j < 16; j += 8) {
        const __m128i part = j == 0 ? halves[h] : _mm_unpackhi_epi64(halves[h], halves[h]);
        _mm256_storeu_ps(dst + b * 32 + 16 * h + j,
                         _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(part)), d));
      }
    }
  }
}

}  // namespace

void install_vec(KernelTable& table) {
  const auto slot = [](TensorType t) { return static_cast<size_t>(t); };
  table.dot[slot(TensorType::kF16)] = &dot_f16;
  table.dot[slot(TensorType::kBF16)] = &dot_bf16;
  table.dot[slot(TensorType::kF32)] = &dot_f32;
  table.dot[slot(TensorType::kQ8_0)] = &dot_q8_0;
  table.dot[slot(TensorType::kQ4_0)] = &dot_q4_0;
  table.dequantize_row[slot(TensorType::kF16)] = &dequantize_f16;
  table.dequantize_row[slot(TensorType::kBF16)] = &dequantize_bf16;
  table.dequantize_row[slot(TensorType::kQ8_0)] = &dequantize_q8_0;
  table.dequantize_row[slot(TensorType::kQ4_0)] = &dequantize_q4_0;
}

}  // namespace lathe::kernels::x86::avx2
