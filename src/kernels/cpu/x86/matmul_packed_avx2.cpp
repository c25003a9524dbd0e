// AVX2 matmuls over weights repacked in groups of 16 rows: the same packed layout as the AVX-512
// kernels (pack16.cpp), read as two halves of 8 rows. A 64-byte chunk holds four bytes of each of
// the 16 rows, so its first 32 bytes are a vpmaddubsw operand whose 32-bit lane r is row r of the
// first half, and the second 32 bytes the same for the second half; the 16 block scales split
// into two runs of 8 f16 the same way. Each half is one pass over the blocks with the group still
// in cache from the first.
//
// Without VNNI a step of four weights is vpmaddubsw against the broadcast activation bytes (u8 ×
// s8 pairs into s16) and vpmaddwd by ones. Unsigned 4-bit weights keep a whole 32-weight block in
// the 16-bit sums (8 × 2 × 15 × 127 < 32768); Q6_K's 6-bit ones keep two steps; signed weights
// (Q8_0 stored + 128, IQ4_XS's table) go through |w| × (a with w's sign), widened every step.
// The float epilogue is the reference's expression, as everywhere: results are bit-identical to
// the row-major kernels and the reference.
#include "kernels/cpu/x86/common_avx2.h"
#include "kernels/cpu/x86/pack16.h"
#include "kernels/cpu/x86/x86_kernels.h"
#include "quant/blocks.h"

namespace lathe::kernels::x86::avx2 {

namespace {

using quant::BlockQ8_0;
using quant::BlockQ8_1;
using quant::BlockQ8_K;

constexpr int kMetaEntries = 8192;
constexpr int kHalfRows = 8;

struct Meta {
  int64_t units = 0;
  alignas(64) int32_t off[kMetaEntries];
  alignas(64) float f0[kMetaEntries];
  alignas(64) float f1[kMetaEntries];
};

constexpr uint64_t kQ8KQs = offsetof(BlockQ8_K, qs);
constexpr uint64_t kQ8KBsums = offsetof(BlockQ8_K, bsums);

inline __m256i bcast4(const uint8_t* p) {
  int32_t x;
  std::memcpy(&x, p, sizeof(x));
  return _mm256_set1_epi32(x);
}

// Asks for the block at least 4 KiB ahead (see matmul_packed_avx512.cpp). Each half of a group
// reads half of every line, so only the first half prefetches.
inline void prefetch_ahead(const uint8_t* blk, uint64_t block_bytes, int half) {
  if (half != 0) return;
  const uint8_t* p = blk + pack16::prefetch_distance(block_bytes);
  for (uint64_t i = 0; i < block_bytes; i += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(p + i), _MM_HINT_T0);
  }
}

inline __m256i load32(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// The 8 f16 scales of the half at p (16 bytes).
inline __m256 load_f16x8(const uint8_t* p) {
  return _mm256_cvtph_ps(load16(p));
}

inline float q8k_d(const uint8_t* y) {
  float d;
  std::memcpy(&d, y, sizeof(d));
  return d;
}

inline int16_t bsum(const uint8_t* y, int i) {
  int16_t s;
  std::memcpy(&s, y + kQ8KBsums + 2 * i, sizeof(s));
  return s;
}

inline int32_t sum32(const uint8_t* q) {
  const __m256i x = _mm256_xor_si256(load32(q), _mm256_set1_epi8(static_cast<char>(0x80)));
  const __m256i s = _mm256_sad_epu8(x, _mm256_setzero_si256());
  const __m128i t = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  return static_cast<int32_t>(_mm_cvtsi128_si64(t) + _mm_extract_epi64(t, 1)) - 32 * 128;
}

// Signed weights × signed activations, exact: |w| × (a with w's sign), pairs widened to 32 bits.
inline __m256i dot_signed(__m256i w, __m256i a) {
  return widen(_mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(a, w)));
}

struct Tile {
  const uint8_t* group;
  int64_t row;  // first row of the half
  int n_rows;   // valid rows of the half (1..8)
  int half;     // 0 or 1: byte offset 32 * half in each chunk, 16 * half in each scale run
  int64_t col;
  const int32_t* off;
  const float* f0;
  const float* f1;
  int64_t units;
};

inline void store(const MatmulArgs& a, const Tile& t, int c, __m256 v) {
  alignas(32) float tmp[kHalfRows];
  _mm256_store_ps(tmp, v);
  float* out = a.out + (t.col + c) * a.out_stride + t.row;
  for (int i = 0; i < t.n_rows; ++i) {
    out[i] = a.bias != nullptr ? tmp[i] + a.bias[t.row + i] : tmp[i];
  }
}

struct Q4_0 {
  static constexpr int kMaxCols = 2;
  static int64_t units(int64_t k) { return k / quant::kQK4_0; }
  static void meta(const uint8_t* y, int64_t k, int32_t* off, float* f0, float*) {
    for (int64_t b = 0; b < k / quant::kQK4_0; ++b, y += sizeof(BlockQ8_0)) {
      off[b] = -8 * sum32(y + 2);
      f0[b] = f16_scalar(y);
    }
  }
  template <int C>
  static void tile(const MatmulArgs& a, const Tile& t) {
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const uint8_t* y[C];
    __m256 sum[C];
    for (int c = 0; c < C; ++c) {
      y[c] = activation_row(a, t.col + c) + 2;
      sum[c] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < a.k / quant::kQK4_0; ++b) {
      const uint8_t* blk = t.group + b * 288;
      prefetch_ahead(blk, 288, t.half);
      const __m256 dw = load_f16x8(blk + 16 * t.half);
      __m256i lo[4], hi[4];
      for (int j = 0; j < 4; ++j) {
        const __m256i raw = load32(blk + 32 + 64 * j + 32 * t.half);
        lo[j] = _mm256_and_si256(raw, low4);
        hi[j] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
      }
      for (int c = 0; c < C; ++c) {
        const uint8_t* q = y[c] + b * sizeof(BlockQ8_0);
        __m256i p = _mm256_setzero_si256();
        for (int j = 0; j < 4; ++j) {
          p = _mm256_add_epi16(p, _mm256_maddubs_epi16(lo[j], bcast4(q + 4 * j)));
          p = _mm256_add_epi16(p, _mm256_maddubs_epi16(hi[j], bcast4(q + 16 + 4 * j)));
        }
        const __m256i isum = _mm256_add_epi32(widen(p), _mm256_set1_epi32(t.off[c * t.units + b]));
        const __m256 v = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(isum), dw),
                                       _mm256_set1_ps(t.f0[c * t.units + b]));
        sum[c] = _mm256_add_ps(sum[c], opaque(v));
      }
    }
    for (int c = 0; c < C; ++c) store(a, t, c, sum[c]);
  }
};

struct Q8_0 {
  static constexpr int kMaxCols = 2;
  static int64_t units(int64_t k) { return k / quant::kQK8_0; }
  static void meta(const uint8_t* y, int64_t k, int32_t*, float* f0, float*) {
    for (int64_t b = 0; b < k / quant::kQK8_0; ++b, y += sizeof(BlockQ8_0)) f0[b] = f16_scalar(y);
  }
  template <int C>
  static void tile(const MatmulArgs& a, const Tile& t) {
    const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
    const uint8_t* y[C];
    __m256 sum[C];
    for (int c = 0; c < C; ++c) {
      y[c] = activation_row(a, t.col + c) + 2;
      sum[c] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < a.k / quant::kQK8_0; ++b) {
      const uint8_t* blk = t.group + b * 544;
      prefetch_ahead(blk, 544, t.half);
      const __m256 dw = load_f16x8(blk + 16 * t.half);
      for (int c = 0; c < C; ++c) {
        const uint8_t* q = y[c] + b * sizeof(BlockQ8_0);
        __m256i s = _mm256_setzero_si256();
        for (int j = 0; j < 8; ++j) {
          // The packed bytes are w + 128; flipping the sign bit gives w back.
          const __m256i w = _mm256_xor_si256(load32(blk + 32 + 64 * j + 32 * t.half), flip);
          s = _mm256_add_epi32(s, dot_signed(w, bcast4(q + 4 * j)));
        }
        const __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(s),
                                       _mm256_mul_ps(dw, _mm256_set1_ps(t.f0[c * t.units + b])));
        sum[c] = _mm256_add_ps(sum[c], opaque(v));
      }
    }
    for (int c = 0; c < C; ++c) store(a, t, c, sum[c]);
  }
};

struct Q4_1 {
  static constexpr int kMaxCols = 2;
  static int64_t units(int64_t k) { return k / quant::kQK4_1; }
  static void meta(const uint8_t* y, int64_t k, int32_t*, float* f0, float* f1) {
    for (int64_t b = 0; b < k / quant::kQK4_1; ++b, y += sizeof(BlockQ8_1)) {
      f0[b] = f16_scalar(y);
      f1[b] = f16_scalar(y + 2);
    }
  }
  template <int C>
  static void tile(const MatmulArgs& a, const Tile& t) {
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const uint8_t* y[C];
    __m256 sum[C];
    for (int c = 0; c < C; ++c) {
      y[c] = activation_row(a, t.col + c) + 4;
      sum[c] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < a.k / quant::kQK4_1; ++b) {
      const uint8_t* blk = t.group + b * 320;
      prefetch_ahead(blk, 320, t.half);
      const __m256 dw = load_f16x8(blk + 16 * t.half);
      const __m256 mw = load_f16x8(blk + 32 + 16 * t.half);
      __m256i lo[4], hi[4];
      for (int j = 0; j < 4; ++j) {
        const __m256i raw = load32(blk + 64 + 64 * j + 32 * t.half);
        lo[j] = _mm256_and_si256(raw, low4);
        hi[j] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
      }
      for (int c = 0; c < C; ++c) {
        const uint8_t* q = y[c] + b * sizeof(BlockQ8_1);
        __m256i p = _mm256_setzero_si256();
        for (int j = 0; j < 4; ++j) {
          p = _mm256_add_epi16(p, _mm256_maddubs_epi16(lo[j], bcast4(q + 4 * j)));
          p = _mm256_add_epi16(p, _mm256_maddubs_epi16(hi[j], bcast4(q + 16 + 4 * j)));
        }
        const int64_t m = c * t.units + b;
        const __m256 scaled =
            _mm256_mul_ps(_mm256_mul_ps(dw, _mm256_set1_ps(t.f0[m])), _mm256_cvtepi32_ps(widen(p)));
        const __m256 offset = _mm256_mul_ps(mw, _mm256_set1_ps(t.f1[m]));
        sum[c] = _mm256_add_ps(sum[c], _mm256_add_ps(opaque(scaled), opaque(offset)));
      }
    }
    for (int c = 0; c < C; ++c) store(a, t, c, sum[c]);
  }
};

struct IQ4_XS {
  static constexpr int kMaxCols = 2;
  static int64_t units(int64_t k) { return k / quant::kQK_K; }
  static void meta(const uint8_t*, int64_t, int32_t*, float*, float*) {}
  template <int C>
  static void tile(const MatmulArgs& a, const Tile& t) {
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i values = _mm256_broadcastsi128_si256(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(quant::kIQ4NLValues)));
    const uint8_t* y[C];
    __m256 sum[C];
    for (int c = 0; c < C; ++c) {
      y[c] = activation_row(a, t.col + c);
      sum[c] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < a.k / quant::kQK_K; ++b) {
      const uint8_t* blk = t.group + b * 2176;
      prefetch_ahead(blk, 2176, t.half);
      const __m256 dw = load_f16x8(blk + 16 * t.half);
      const __m256i sh = _mm256_cvtepu16_epi32(load16(blk + 32 + 16 * t.half));
      const __m256i sl = load32(blk + 64 + 32 * t.half);
      __m256 d[C];
      for (int c = 0; c < C; ++c) {
        d[c] = _mm256_mul_ps(dw, _mm256_set1_ps(q8k_d(y[c] + b * sizeof(BlockQ8_K))));
      }
      for (int ib = 0; ib < 8; ++ib) {
        const __m256i ls = _mm256_or_si256(
            _mm256_and_si256(_mm256_srli_epi32(sl, 4 * ib), _mm256_set1_epi32(0xf)),
            _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(sh, 2 * ib), _mm256_set1_epi32(3)),
                              4));
        const __m256 lsf = _mm256_cvtepi32_ps(_mm256_sub_epi32(ls, _mm256_set1_epi32(32)));
        __m256i lo[4], hi[4];
        for (int j = 0; j < 4; ++j) {
          const __m256i raw = load32(blk + 128 + (4 * ib + j) * 64 + 32 * t.half);
          lo[j] = _mm256_shuffle_epi8(values, _mm256_and_si256(raw, low4));
          hi[j] = _mm256_shuffle_epi8(values, _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4));
        }
        for (int c = 0; c < C; ++c) {
          const uint8_t* q = y[c] + b * sizeof(BlockQ8_K) + kQ8KQs + 32 * ib;
          __m256i s = _mm256_setzero_si256();
          for (int j = 0; j < 4; ++j) {
            s = _mm256_add_epi32(s, dot_signed(lo[j], bcast4(q + 4 * j)));
            s = _mm256_add_epi32(s, dot_signed(hi[j], bcast4(q + 16 + 4 * j)));
          }
          const __m256 v = _mm256_mul_ps(_mm256_mul_ps(d[c], lsf), _mm256_cvtepi32_ps(s));
          sum[c] = _mm256_add_ps(sum[c], opaque(v));
        }
      }
    }
    for (int c = 0; c < C; ++c) store(a, t, c, sum[c]);
  }
};

struct Q4_K {
  static constexpr int kMaxCols = 2;
  // Sub-block activation sums packed in pairs, for vpmaddwd against the paired mins (see
  // matmul_packed_avx512.cpp).
  static int64_t units(int64_t k) { return k / quant::kQK_K * 4; }
  static void meta(const uint8_t* y, int64_t k, int32_t* off, float*, float*) {
    for (int64_t b = 0; b < k / quant::kQK_K; ++b, y += sizeof(BlockQ8_K)) {
      for (int i = 0; i < 4; ++i) {
        const auto lo = static_cast<uint16_t>(bsum(y, 4 * i) + bsum(y, 4 * i + 1));
        const auto hi = static_cast<uint16_t>(bsum(y, 4 * i + 2) + bsum(y, 4 * i + 3));
        off[4 * b + i] = static_cast<int32_t>(static_cast<uint32_t>(lo) | uint32_t{hi} << 16);
      }
    }
  }
  template <int C>
  static void tile(const MatmulArgs& a, const Tile& t) {
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i low6 = _mm256_set1_epi32(63);
    const __m256i low4d = _mm256_set1_epi32(0xf);
    const __m256i low2d = _mm256_set1_epi32(3);
    const uint8_t* y[C];
    __m256 sum[C];
    for (int c = 0; c < C; ++c) {
      y[c] = activation_row(a, t.col + c);
      sum[c] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < a.k / quant::kQK_K; ++b) {
      const uint8_t* blk = t.group + b * 2304;
      prefetch_ahead(blk, 2304, t.half);
      const uint64_t h32 = 32 * static_cast<uint64_t>(t.half);
      const __m256i w1 = load32(blk + 64 + h32), w2 = load32(blk + 128 + h32);
      const __m256i w3 = load32(blk + 192 + h32);
      const auto scale = [&](int j) {
        if (j < 4) return _mm256_and_si256(_mm256_srli_epi32(w1, 8 * j), low6);
        return _mm256_or_si256(
            _mm256_and_si256(_mm256_srli_epi32(w3, 8 * (j - 4)), low4d),
            _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(w1, 8 * (j - 4) + 6), low2d), 4));
      };
      const auto min = [&](int j) {
        if (j < 4) return _mm256_and_si256(_mm256_srli_epi32(w2, 8 * j), low6);
        return _mm256_or_si256(
            _mm256_and_si256(_mm256_srli_epi32(w3, 8 * (j - 4) + 4), low4d),
            _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(w2, 8 * (j - 4) + 6), low2d), 4));
      };
      __m256i scaled[C];
      for (int c = 0; c < C; ++c) scaled[c] = _mm256_setzero_si256();
      for (int j = 0; j < 8; ++j) {
        const __m256i sc = scale(j);
        for (int c = 0; c < C; ++c) {
          const uint8_t* q = y[c] + b * sizeof(BlockQ8_K) + kQ8KQs + 32 * j;
          __m256i p = _mm256_setzero_si256();
          for (int i = 0; i < 8; ++i) {
            const __m256i raw = load32(blk + 256 + (8 * (j / 2) + i) * 64 + h32);
            const __m256i w = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(raw, 4) : raw, low4);
            p = _mm256_add_epi16(p, _mm256_maddubs_epi16(w, bcast4(q + 4 * i)));
          }
          scaled[c] = _mm256_add_epi32(scaled[c], _mm256_mullo_epi32(sc, widen(p)));
        }
      }
      const __m256 dw = load_f16x8(blk + 16 * t.half);
      const __m256 dmin = load_f16x8(blk + 32 + 16 * t.half);
      __m256i min_pairs[4];  // m_{2i} | m_{2i+1} << 16 per row
      for (int i = 0; i < 4; ++i) {
        min_pairs[i] = _mm256_or_si256(min(2 * i), _mm256_slli_epi32(min(2 * i + 1), 16));
      }
      for (int c = 0; c < C; ++c) {
        __m256i mins = _mm256_setzero_si256();
        for (int i = 0; i < 4; ++i) {
          mins = _mm256_add_epi32(
              mins,
              _mm256_madd_epi16(min_pairs[i], _mm256_set1_epi32(t.off[c * t.units + 4 * b + i])));
        }
        const __m256 yd = _mm256_set1_ps(q8k_d(y[c] + b * sizeof(BlockQ8_K)));
        const __m256 pos = _mm256_mul_ps(_mm256_mul_ps(dw, yd), _mm256_cvtepi32_ps(scaled[c]));
        const __m256 neg = _mm256_mul_ps(_mm256_mul_ps(dmin, yd), _mm256_cvtepi32_ps(mins));
        sum[c] = _mm256_add_ps(sum[c], _mm256_sub_ps(opaque(pos), opaque(neg)));
      }
    }
    for (int c = 0; c < C; ++c) store(a, t, c, sum[c]);
  }
};

struct Q6_K {
  static constexpr int kMaxCols = 2;
  static int64_t units(int64_t k) { return k / 16; }
  static void meta(const uint8_t* y, int64_t k, int32_t* off, float*, float*) {
    for (int64_t b = 0; b < k / quant::kQK_K; ++b, y += sizeof(BlockQ8_K)) {
      for (int s = 0; s < 16; ++s) off[16 * b + s] = -32 * bsum(y, s);
    }
  }
  template <int C>
  static void tile(const MatmulArgs& a, const Tile& t) {
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i bits45 = _mm256_set1_epi8(0x30);
    const uint8_t* y[C];
    __m256 sum[C];
    for (int c = 0; c < C; ++c) {
      y[c] = activation_row(a, t.col + c);
      sum[c] = _mm256_setzero_ps();
    }
    const uint64_t h32 = 32 * static_cast<uint64_t>(t.half);
    for (int64_t b = 0; b < a.k / quant::kQK_K; ++b) {
      const uint8_t* blk = t.group + b * 3360;
      prefetch_ahead(blk, 3360, t.half);
      __m256i scaled[C];
      for (int c = 0; c < C; ++c) scaled[c] = _mm256_setzero_si256();
      for (int h = 0; h < 2; ++h) {
        for (int lh = 0; lh < 2; ++lh) {
          for (int k = 0; k < 4; ++k) {
            const int s = 8 * h + 2 * k + lh;
            __m256i w[4];
            for (int i = 0; i < 4; ++i) {
              const __m256i ql = load32(blk + 288 + ((2 * h + k % 2) * 8 + 4 * lh + i) * 64 + h32);
              const __m256i qh = load32(blk + 2336 + (8 * h + 4 * lh + i) * 64 + h32);
              const __m256i low = _mm256_and_si256(k >= 2 ? _mm256_srli_epi16(ql, 4) : ql, low4);
              const __m256i high = 2 * k >= 4
                                       ? _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k - 4), bits45)
                                       : _mm256_and_si256(_mm256_slli_epi16(qh, 4 - 2 * k), bits45);
              w[i] = _mm256_or_si256(low, high);
            }
            const __m256i sc = _mm256_cvtepi8_epi32(
                _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + 32 + 16 * s + 8 * t.half)));
            for (int c = 0; c < C; ++c) {
              const uint8_t* q = y[c] + b * sizeof(BlockQ8_K) + kQ8KQs + 16 * s;
              // Two 6-bit steps fit the 16-bit sums (2 × 2 × 63 × 127 < 32768).
              const __m256i p01 = _mm256_add_epi16(_mm256_maddubs_epi16(w[0], bcast4(q)),
                                                   _mm256_maddubs_epi16(w[1], bcast4(q + 4)));
              const __m256i p23 = _mm256_add_epi16(_mm256_maddubs_epi16(w[2], bcast4(q + 8)),
                                                   _mm256_maddubs_epi16(w[3], bcast4(q + 12)));
              const __m256i dot =
                  _mm256_add_epi32(_mm256_add_epi32(widen(p01), widen(p23)),
                                   _mm256_set1_epi32(t.off[c * t.units + 16 * b + s]));
              scaled[c] = _mm256_add_epi32(scaled[c], _mm256_mullo_epi32(sc, dot));
            }
          }
        }
      }
      const __m256 dw = load_f16x8(blk + 16 * t.half);
      for (int c = 0; c < C; ++c) {
        const __m256 v =
            _mm256_mul_ps(_mm256_mul_ps(dw, _mm256_set1_ps(q8k_d(y[c] + b * sizeof(BlockQ8_K)))),
                          _mm256_cvtepi32_ps(scaled[c]));
        sum[c] = _mm256_add_ps(sum[c], opaque(v));
      }
    }
    for (int c = 0; c < C; ++c) store(a, t, c, sum[c]);
  }
};

template <class F, int C>
void tile_cols(const MatmulArgs& a, const Tile& t, int64_t n) {
  if constexpr (C > 0) {
    if (n == C) {
      F::template tile<C>(a, t);
    } else {
      tile_cols<F, C - 1>(a, t, n);
    }
  }
}

template <class F>
void packed_matmul(const MatmulArgs& a, int64_t row_begin, int64_t row_end) {
  Meta meta;
  meta.units = F::units(a.k);
  const int64_t cols_per_chunk = kMetaEntries / meta.units;
  const uint64_t group_bytes = pack16::kRows * a.weight_row_bytes;
  for (int64_t c0 = 0; c0 < a.n_b; c0 += cols_per_chunk) {
    const int64_t n_cols = std::min(cols_per_chunk, a.n_b - c0);
    for (int64_t c = 0; c < n_cols; ++c) {
      const int64_t m = c * meta.units;
      F::meta(activation_row(a, c0 + c), a.k, meta.off + m, meta.f0 + m, meta.f1 + m);
    }
    for (int64_t r = row_begin; r < row_end; r += kHalfRows) {
      const int64_t n_rows = std::min<int64_t>(kHalfRows, row_end - r);
      for (int64_t c = 0; c < n_cols; c += F::kMaxCols) {
        const int64_t m = c * meta.units;
        const Tile t{a.weights + static_cast<uint64_t>(r / pack16::kRows) * group_bytes,
                     r,
                     static_cast<int>(n_rows),
                     static_cast<int>((r / kHalfRows) % 2),
                     c0 + c,
                     meta.off + m,
                     meta.f0 + m,
                     meta.f1 + m,
                     meta.units};
        tile_cols<F, F::kMaxCols>(a, t, std::min<int64_t>(F::kMaxCols, n_cols - c));
      }
    }
  }
}

template <class F>
RepackKernels repack(void (*pack)(const uint8_t*, uint64_t, int64_t, int64_t, int64_t, int64_t,
                                  uint8_t*),
                     int64_t elems_per_unit) {
  RepackKernels r;
  r.group_rows = pack16::kRows;
  r.size = &pack16::size;
  r.pack = pack;
  r.matmul = &packed_matmul<F>;
  r.max_k = static_cast<int64_t>(kMetaEntries) * elems_per_unit;
  return r;
}

}  // namespace

void install_matmul_packed(KernelTable& table) {
  table.repack[static_cast<size_t>(TensorType::kQ4_0)] = repack<Q4_0>(&pack16::pack_q4_0, 32);
  table.repack[static_cast<size_t>(TensorType::kQ8_0)] = repack<Q8_0>(&pack16::pack_q8_0, 32);
  table.repack[static_cast<size_t>(TensorType::kQ4_1)] = repack<Q4_1>(&pack16::pack_q4_1, 32);
  table.repack[static_cast<size_t>(TensorType::kIQ4_XS)] =
      repack<IQ4_XS>(&pack16::pack_iq4_xs, quant::kQK_K);
  table.repack[static_cast<size_t>(TensorType::kQ4_K)] = repack<Q4_K>(&pack16::pack_q4_k, 64);
  table.repack[static_cast<size_t>(TensorType::kQ6_K)] = repack<Q6_K>(&pack16::pack_q6_k, 16);
}

}  // namespace lathe::kernels::x86::avx2
