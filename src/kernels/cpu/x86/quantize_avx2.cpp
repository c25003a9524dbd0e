// AVX2 activation quantizers: q8_0 and q8_1 (llama.cpp's runtime rounding, see
// ref/activation_ref.cpp), q8_K, f16 and bf16. Each writes exactly the reference's bytes, for
// every input including NaN and infinities:
//  - maxima ignore NaN the way std::max(acc, x) does: vmaxps(x, acc) returns acc when x is NaN;
//  - q8_0/q8_1 round with vcvtps2dq (round to nearest even, as std::nearbyint) and saturate;
//  - q8_K reproduces ggml's nearest_int bit trick (+1.5 * 2^23) and the int8 truncation;
//  - f16 maps NaN to the quiet NaN 0x7e00 (F16C would keep the payload);
//  - bf16 rounds with integer arithmetic (vcvtneps2bf16 would flush subnormals);
//  - block scales go through the reference's scalar f32_to_f16.
// These are also what AVX-512 tables use: activation conversion is a small part of a matmul.
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/x86/common_avx2.h"
#include "kernels/cpu/x86/x86_kernels.h"
#include "quant/blocks.h"
#include "quant/fp16.h"

namespace lathe::kernels::x86::avx2 {

namespace {

using quant::BlockQ8_0;
using quant::BlockQ8_1;
using quant::BlockQ8_K;

inline __m256 abs_ps(__m256 x) {
  return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
}

inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

inline int hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
  return _mm_cvtsi128_si32(s);
}

// 32 floats → 32 int8 with the runtime's rounding; returns d (before f16 rounding) and the sum of
// the stored bytes.
inline float quantize_block32(const float* x, int8_t* qs, int* sum) {
  __m256 v[4];
  __m256 amax = _mm256_setzero_ps();
  for (int i = 0; i < 4; ++i) {
    v[i] = _mm256_loadu_ps(x + 8 * i);
    amax = _mm256_max_ps(abs_ps(v[i]), amax);
  }
  const float m = hmax(amax);
  const float d = m / 127.0f;
  const float id = m != 0.0f ? 127.0f / m : 0.0f;
  const __m256 mul = _mm256_set1_ps(id);
  __m256i q[4];
  for (int i = 0; i < 4; ++i) q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], mul));
  // packs interleave 128-bit lanes; the permute puts the 32 bytes back in order.
  const __m256i q01 = _mm256_packs_epi32(q[0], q[1]);
  const __m256i q23 = _mm256_packs_epi32(q[2], q[3]);
  const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q01, q23),
                                                    _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs), bytes);
  if (sum != nullptr) {
    *sum = hsum_epi32(
        _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), bytes), _mm256_set1_epi16(1)));
  }
  return d;
}

void quantize_q8_0(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / quant::kQK8_0; ++b) {
    const float d = quantize_block32(src + b * quant::kQK8_0, blocks[b].qs, nullptr);
    blocks[b].d = quant::f32_to_f16(d);
  }
}

void quantize_q8_1(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ8_1*>(dst);
  for (int64_t b = 0; b < n / quant::kQK8_1; ++b) {
    int sum = 0;
    const float d = quantize_block32(src + b * quant::kQK8_1, blocks[b].qs, &sum);
    blocks[b].d = quant::f32_to_f16(d);
    blocks[b].s = quant::f32_to_f16(d * static_cast<float>(sum));
  }
}

void quantize_q8_k(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ8_K*>(dst);
  for (int64_t b = 0; b < n / quant::kQK_K; ++b) {
    const float* x = src + b * quant::kQK_K;
    BlockQ8_K& out = blocks[b];
    __m256 amax = _mm256_setzero_ps();
    for (int i = 0; i < quant::kQK_K; i += 8)
      amax = _mm256_max_ps(abs_ps(_mm256_loadu_ps(x + i)), amax);
    const float m = hmax(amax);
    if (m == 0.0f) {
      std::memset(&out, 0, sizeof(out));
      continue;
    }
    // The reference keeps the sign of the first element of largest magnitude.
    const __m256 target = _mm256_set1_ps(m);
    int first = 0;
    for (int i = 0; i < quant::kQK_K; i += 8) {
      const int hits =
          _mm256_movemask_ps(_mm256_cmp_ps(abs_ps(_mm256_loadu_ps(x + i)), target, _CMP_EQ_OQ));
      if (hits != 0) {
        first = i + __builtin_ctz(static_cast<unsigned>(hits));
        break;
      }
    }
    const float iscale = -127.0f / x[first];
    const __m256 mul = _mm256_set1_ps(iscale);
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    const __m256i mantissa = _mm256_set1_epi32(0x007fffff);
    const __m256i offset = _mm256_set1_epi32(0x00400000);
    const __m256i max_q = _mm256_set1_epi32(127);
    // Low byte of each 32-bit lane (the reference's int → int8 cast), lanes back in order.
    const __m256i low_bytes =
        _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12,
                         -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    for (int i = 0; i < quant::kQK_K; i += 16) {
      __m256i q[2];
      for (int h = 0; h < 2; ++h) {
        // opaque: the product is rounded before the add, as in the reference (no FMA).
        const __m256 v =
            _mm256_add_ps(opaque(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * h), mul)), magic);
        q[h] = _mm256_min_epi32(
            _mm256_sub_epi32(_mm256_and_si256(_mm256_castps_si256(v), mantissa), offset), max_q);
      }
      // 16 values → 16 bytes: bytes 0-3 and 16-19 of each shuffled vector hold the low bytes.
      const __m256i s0 = _mm256_shuffle_epi8(q[0], low_bytes);
      const __m256i s1 = _mm256_shuffle_epi8(q[1], low_bytes);
      const __m128i lo =
          _mm_unpacklo_epi32(_mm256_castsi256_si128(s0), _mm256_extracti128_si256(s0, 1));
      const __m128i hi =
          _mm_unpacklo_epi32(_mm256_castsi256_si128(s1), _mm256_extracti128_si256(s1, 1));
      const __m128i bytes = _mm_unpacklo_epi64(lo, hi);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out.qs + i), bytes);
      const __m256i wide = _mm256_cvtepi8_epi16(bytes);
      out.bsums[i / 16] =
          static_cast<int16_t>(hsum_epi32(_mm256_madd_epi16(wide, _mm256_set1_epi16(1))));
    }
    out.d = 1.0f / iscale;
  }
}

void quantize_f16(const float* src, void* dst, int64_t n) {
  auto* out = static_cast<uint16_t*>(dst);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 quiet_nan = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fc00000));
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 x = _mm256_loadu_ps(src + i);
    // A NaN becomes the plain quiet NaN (payload dropped), which F16C turns into 0x7e00.
    const __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    x = _mm256_blendv_ps(x, _mm256_or_ps(_mm256_and_ps(x, sign), quiet_nan), nan);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) out[i] = quant::f32_to_f16(src[i]);
}

void quantize_bf16(const float* src, void* dst, int64_t n) {
  auto* out = static_cast<uint16_t*>(dst);
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i round = _mm256_set1_epi32(0x7fff);
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  const __m256i inf = _mm256_set1_epi32(0x7f800000);
  const __m256i quiet = _mm256_set1_epi32(0x40);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(b, 16), one);
    const __m256i rounded =
        _mm256_srli_epi32(_mm256_add_epi32(b, _mm256_add_epi32(round, odd)), 16);
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(b, abs_mask), inf);
    const __m256i quieted = _mm256_or_si256(_mm256_srli_epi32(b, 16), quiet);
    const __m256i r = _mm256_blendv_epi8(rounded, quieted, nan);
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm256_castsi256_si128(packed));
  }
  for (; i < n; ++i) out[i] = quant::f32_to_bf16(src[i]);
}

}  // namespace

void install_quantizers(KernelTable& table) {
  table.quantize_row[static_cast<size_t>(TensorType::kQ8_0)] = &quantize_q8_0;
  table.quantize_row[static_cast<size_t>(TensorType::kQ8_1)] = &quantize_q8_1;
  table.quantize_row[static_cast<size_t>(TensorType::kQ8_K)] = &quantize_q8_k;
  table.quantize_row[static_cast<size_t>(TensorType::kF16)] = &quantize_f16;
  table.quantize_row[static_cast<size_t>(TensorType::kBF16)] = &quantize_bf16;
}

}  // namespace lathe::kernels::x86::avx2
