// e^x on 16 floats at once, for softmax and SiLU. Include only from *_avx512.cpp files.
//
// Method (Cephes' expf, evaluated with FMAs): n = round(x·log2 e), r = x − n·ln 2 in two parts
// (the high part has 9 significant bits, so n·ln2_hi and the subtraction are exact), e^r on
// |r| ≤ ln2/2 by a degree-7 polynomial, then scalef(e^r, n) = e^r·2ⁿ, which rounds once and
// handles overflow to +inf and gradual underflow to 0.
//
// Error: at most 1 ulp against the correctly rounded result over every float with a normal
// result (tests/kernels/exp_test.cpp sweeps [-104, 89] densely; the measured maximum is stated
// there). Inputs are clamped to [-104, 89] first, where e^x is already 0 and +inf after
// rounding, so -inf gives 0, +inf gives +inf, and NaN stays NaN (the clamp keeps it).
#pragma once

#if !defined(__AVX512F__)
#error "compile this file with the AVX-512 flags (name it *_avx512.cpp)"
#endif

#include <immintrin.h>

namespace lathe::kernels::x86::avx512 {

inline __m512 exp_ps(__m512 x) {
  // max/min return their second operand when either is NaN: x stays NaN through the clamp.
  x = _mm512_min_ps(_mm512_set1_ps(89.0f), _mm512_max_ps(_mm512_set1_ps(-104.0f), x));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  // e^r = 1 + r + r²·p(r): the small terms are summed first, 1 last.
  const __m512 e = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(e, n);
}

}  // namespace lathe::kernels::x86::avx512
