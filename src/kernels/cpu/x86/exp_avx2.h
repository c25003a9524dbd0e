// e^x on 8 floats at once, for softmax and SiLU. Include only from *_avx2.cpp files.
//
// The same method and polynomial as exp_avx512.h. AVX2 has no scalef, so 2ⁿ is applied as two
// factors 2^(n/2) and 2^(n − n/2), each a normal float built in the exponent bits: e^r·2^a is
// exact, and the second product rounds once, also into the subnormal range. The error bound is
// the same (tests/kernels/exp_test.cpp).
#pragma once

#if !defined(__AVX2__) || !defined(__FMA__)
#error "compile this file with the AVX2 flags (name it *_avx2.cpp)"
#endif

#include <immintrin.h>

namespace lathe::kernels::x86::avx2 {

inline __m256 exp_ps(__m256 x) {
  // max/min return their second operand when either is NaN: x stays NaN through the clamp.
  x = _mm256_min_ps(_mm256_set1_ps(89.0f), _mm256_max_ps(_mm256_set1_ps(-104.0f), x));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 e = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
  // n ∈ [-150, 129]: both halves lie in [-75, 65], normal exponents. A NaN x gives a NaN e, which
  // the products keep whatever the integer conversion of n made of it.
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i n1 = _mm256_srai_epi32(ni, 1);
  const __m256i n2 = _mm256_sub_epi32(ni, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(e, s1), s2);
}

}  // namespace lathe::kernels::x86::avx2
