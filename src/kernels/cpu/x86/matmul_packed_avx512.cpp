// AVX-512 VNNI matmuls over weights repacked in groups of 16 rows (layouts in pack16.cpp).
//
// A packed chunk is a vpdpbusd operand as loaded: lane r holds four bytes of row r, and the four
// matching activation bytes are broadcast straight from memory ({1to16}). Each lane accumulates
// exactly one row's block sum, so there is nothing to shuffle or reduce; a block of 16 rows costs a
// few loads, the nibble unpacking, and per activation row 8 vpdpbusd (32 weights) plus the float
// epilogue. The float epilogue is the reference's expression, as in the row-major kernels, so the
// results are bit-identical to them (and to the reference).
//
// What each activation row contributes per block (the -bias * sum(a) that undoes the unsigned
// storage of signed weights, the scales converted to f32) is computed once per call for all rows
// of weights, in a table on the stack; very long batches are processed in column chunks that fit.
#include "kernels/cpu/x86/common_avx512.h"
#include "kernels/cpu/x86/pack16.h"
#include "kernels/cpu/x86/x86_kernels.h"
#include "quant/blocks.h"

namespace lathe::kernels::x86::avx512 {

namespace {

using quant::BlockQ8_0;
using quant::BlockQ8_1;
using quant::BlockQ8_K;

constexpr int kMetaEntries = 8192;

// Per activation row and per unit (block or sub-block, see each format), for all units of k.
struct Meta {
  int64_t units = 0;
  alignas(64) int32_t off[kMetaEntries];
  alignas(64) float f0[kMetaEntries];
  alignas(64) float f1[kMetaEntries];
};

constexpr uint64_t kQ8KQs = offsetof(BlockQ8_K, qs);
constexpr uint64_t kQ8KBsums = offsetof(BlockQ8_K, bsums);

// acc += w (u8) · the four bytes at p (s8) broadcast to every lane, with the broadcast folded
// into vpdpbusd's memory operand ({1to16}). GCC emits a separate vpbroadcastd for
// _mm512_set1_epi32(load), one more instruction per dot product in the hottest loop.
inline __m512i dpbusd_bcast(__m512i acc, __m512i w, const uint8_t* p) {
  __asm__("vpdpbusd %2%{1to16%}, %1, %0"
          : "+v"(acc)
          : "v"(w), "m"(*reinterpret_cast<const int32_t*>(p)));
  return acc;
}

// Asks for the block at least 4 KiB (and two blocks) ahead, a line at a time. A group streams
// through memory, but a large block (Q6_K: 3360 bytes) is read out of order inside, which the
// hardware prefetcher does not follow. Small blocks need the long distance: two Q4_0 blocks (576
// bytes) ahead left a B = 2 GEMV with k = 8192 1.12-1.26x slower than B = 1; 4 KiB ahead,
// 0.97-1.07x (measured on Zen 5; the run is in git history: git log -p -- docs/BENCHMARKS.md).
inline void prefetch_ahead(const uint8_t* blk, uint64_t block_bytes) {
  const uint8_t* p = blk + pack16::prefetch_distance(block_bytes);
  for (uint64_t i = 0; i < block_bytes; i += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(p + i), _MM_HINT_T0);
  }
}

inline __m512i load64(const uint8_t* p) {
  return _mm512_loadu_si512(reinterpret_cast<const void*>(p));
}

inline __m512 load_f16x16(const uint8_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
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

// Sum of 32 signed bytes.
inline int32_t sum32(const uint8_t* q) {
  const __m256i x = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)),
                                     _mm256_set1_epi8(static_cast<char>(0x80)));
  const __m256i s = _mm256_sad_epu8(x, _mm256_setzero_si256());
  const __m128i t = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  return static_cast<int32_t>(_mm_cvtsi128_si64(t) + _mm_extract_epi64(t, 1)) - 32 * 128;
}

struct Tile {
  const uint8_t* group;  // packed rows of the group
  int64_t row;           // first row of the group
  __mmask16 valid;
  int64_t col;         // first activation row of the tile
  const int32_t* off;  // meta of the tile's first column
  const float* f0;
  const float* f1;
  int64_t units;
};

inline void store(const MatmulArgs& a, const Tile& t, int c, __m512 v) {
  if (a.bias != nullptr) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(t.valid, a.bias + t.row));
  _mm512_mask_storeu_ps(a.out + (t.col + c) * a.out_stride + t.row, t.valid, v);
}

struct Q4_0 {
  static constexpr int kMaxCols = 6;
  static int64_t units(int64_t k) { return k / quant::kQK4_0; }
  static void meta(const uint8_t* y, int64_t k, int32_t* off, float* f0, float*) {
    for (int64_t b = 0; b < k / quant::kQK4_0; ++b, y += sizeof(BlockQ8_0)) {
      off[b] = -8 * sum32(y + 2);
      f0[b] = f16_scalar(y);
    }
  }
  template <int C>
  static void tile(const MatmulArgs& a, const Tile& t) {
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    const uint8_t* y[C];
    __m512 sum[C];
    for (int c = 0; c < C; ++c) {
      y[c] = activation_row(a, t.col + c) + 2;
      sum[c] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < a.k / quant::kQK4_0; ++b) {
      const uint8_t* blk = t.group + b * 288;
      prefetch_ahead(blk, 288);
      const __m512 dw = load_f16x16(blk);
      __m512i lo[4], hi[4];
      for (int j = 0; j < 4; ++j) {
        const __m512i raw = load64(blk + 32 + 64 * j);
        lo[j] = _mm512_and_si512(raw, low4);
        hi[j] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), low4);
      }
      for (int c = 0; c < C; ++c) {
        const uint8_t* q = y[c] + b * sizeof(BlockQ8_0);
        __m512i s0 = _mm512_set1_epi32(t.off[c * t.units + b]);
        __m512i s1 = _mm512_setzero_si512();
        for (int j = 0; j < 4; ++j) {
          s0 = dpbusd_bcast(s0, lo[j], q + 4 * j);
          s1 = dpbusd_bcast(s1, hi[j], q + 16 + 4 * j);
        }
        const __m512 v =
            _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), dw),
                          _mm512_set1_ps(t.f0[c * t.units + b]));
        sum[c] = _mm512_add_ps(sum[c], opaque(v));
      }
    }
    for (int c = 0; c < C; ++c) store(a, t, c, sum[c]);
  }
};

struct Q8_0 {
  static constexpr int kMaxCols = 6;
  static int64_t units(int64_t k) { return k / quant::kQK8_0; }
  static void meta(const uint8_t* y, int64_t k, int32_t* off, float* f0, float*) {
    for (int64_t b = 0; b < k / quant::kQK8_0; ++b, y += sizeof(BlockQ8_0)) {
      off[b] = -128 * sum32(y + 2);
      f0[b] = f16_scalar(y);
    }
  }
  template <int C>
  static void tile(const MatmulArgs& a, const Tile& t) {
    const uint8_t* y[C];
    __m512 sum[C];
    for (int c = 0; c < C; ++c) {
      y[c] = activation_row(a, t.col + c) + 2;
      sum[c] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < a.k / quant::kQK8_0; ++b) {
      const uint8_t* blk = t.group + b * 544;
      prefetch_ahead(blk, 544);
      const __m512 dw = load_f16x16(blk);
      __m512i w[8];
      for (int j = 0; j < 8; ++j) w[j] = load64(blk + 32 + 64 * j);
      for (int c = 0; c < C; ++c) {
        const uint8_t* q = y[c] + b * sizeof(BlockQ8_0);
        __m512i s0 = _mm512_set1_epi32(t.off[c * t.units + b]);
        __m512i s1 = _mm512_setzero_si512();
        for (int j = 0; j < 4; ++j) {
          s0 = dpbusd_bcast(s0, w[j], q + 4 * j);
          s1 = dpbusd_bcast(s1, w[j + 4], q + 16 + 4 * j);
        }
        const __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)),
                                       _mm512_mul_ps(dw, _mm512_set1_ps(t.f0[c * t.units + b])));
        sum[c] = _mm512_add_ps(sum[c], opaque(v));
      }
    }
    for (int c = 0; c < C; ++c) store(a, t, c, sum[c]);
  }
};

struct Q4_1 {
  static constexpr int kMaxCols = 6;
  static int64_t units(int64_t k) { return k / quant::kQK4_1; }
  static void meta(const uint8_t* y, int64_t k, int32_t*, float* f0, float* f1) {
    for (int64_t b = 0; b < k / quant::kQK4_1; ++b, y += sizeof(BlockQ8_1)) {
      f0[b] = f16_scalar(y);
      f1[b] = f16_scalar(y + 2);
    }
  }
  template <int C>
  static void tile(const MatmulArgs& a, const Tile& t) {
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    const uint8_t* y[C];
    __m512 sum[C];
    for (int c = 0; c < C; ++c) {
      y[c] = activation_row(a, t.col + c) + 4;
      sum[c] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < a.k / quant::kQK4_1; ++b) {
      const uint8_t* blk = t.group + b * 320;
      prefetch_ahead(blk, 320);
      const __m512 dw = load_f16x16(blk);
      const __m512 mw = load_f16x16(blk + 32);
      __m512i lo[4], hi[4];
      for (int j = 0; j < 4; ++j) {
        const __m512i raw = load64(blk + 64 + 64 * j);
        lo[j] = _mm512_and_si512(raw, low4);
        hi[j] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), low4);
      }
      for (int c = 0; c < C; ++c) {
        const uint8_t* q = y[c] + b * sizeof(BlockQ8_1);
        __m512i s0 = _mm512_setzero_si512();
        __m512i s1 = _mm512_setzero_si512();
        for (int j = 0; j < 4; ++j) {
          s0 = dpbusd_bcast(s0, lo[j], q + 4 * j);
          s1 = dpbusd_bcast(s1, hi[j], q + 16 + 4 * j);
        }
        const int64_t m = c * t.units + b;
        const __m512 scaled = _mm512_mul_ps(_mm512_mul_ps(dw, _mm512_set1_ps(t.f0[m])),
                                            _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)));
        const __m512 offset = _mm512_mul_ps(mw, _mm512_set1_ps(t.f1[m]));
        sum[c] = _mm512_add_ps(sum[c], _mm512_add_ps(opaque(scaled), opaque(offset)));
      }
    }
    for (int c = 0; c < C; ++c) store(a, t, c, sum[c]);
  }
};

struct IQ4_XS {
  static constexpr int kMaxCols = 6;
  static int64_t units(int64_t k) { return k / 32; }
  static void meta(const uint8_t* y, int64_t k, int32_t* off, float*, float*) {
    for (int64_t b = 0; b < k / quant::kQK_K; ++b, y += sizeof(BlockQ8_K)) {
      for (int ib = 0; ib < 8; ++ib)
        off[8 * b + ib] = -128 * (bsum(y, 2 * ib) + bsum(y, 2 * ib + 1));
    }
  }
  template <int C>
  static void tile(const MatmulArgs& a, const Tile& t) {
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    const __m512i lut = _mm512_broadcast_i32x4(_mm_setr_epi8(
        1, 24, 45, 63, 79, 93, 106, 118, static_cast<char>(129), static_cast<char>(141),
        static_cast<char>(153), static_cast<char>(166), static_cast<char>(181),
        static_cast<char>(197), static_cast<char>(217), static_cast<char>(241)));
    const uint8_t* y[C];
    __m512 sum[C];
    for (int c = 0; c < C; ++c) {
      y[c] = activation_row(a, t.col + c);
      sum[c] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < a.k / quant::kQK_K; ++b) {
      const uint8_t* blk = t.group + b * 2176;
      prefetch_ahead(blk, 2176);
      const __m512 dw = load_f16x16(blk);
      const __m512i sh =
          _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32)));
      const __m512i sl = load64(blk + 64);
      __m512 d[C];
      for (int c = 0; c < C; ++c) {
        d[c] = _mm512_mul_ps(dw, _mm512_set1_ps(q8k_d(y[c] + b * sizeof(BlockQ8_K))));
      }
      for (int ib = 0; ib < 8; ++ib) {
        const __m512i ls = _mm512_or_si512(
            _mm512_and_si512(_mm512_srli_epi32(sl, 4 * ib), _mm512_set1_epi32(0xf)),
            _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(sh, 2 * ib), _mm512_set1_epi32(3)),
                              4));
        const __m512 lsf = _mm512_cvtepi32_ps(_mm512_sub_epi32(ls, _mm512_set1_epi32(32)));
        __m512i lo[4], hi[4];
        for (int j = 0; j < 4; ++j) {
          const __m512i raw = load64(blk + 128 + (4 * ib + j) * 64);
          lo[j] = _mm512_shuffle_epi8(lut, _mm512_and_si512(raw, low4));
          hi[j] = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(raw, 4), low4));
        }
        for (int c = 0; c < C; ++c) {
          const uint8_t* q = y[c] + b * sizeof(BlockQ8_K) + kQ8KQs + 32 * ib;
          __m512i s0 = _mm512_set1_epi32(t.off[c * t.units + 8 * b + ib]);
          __m512i s1 = _mm512_setzero_si512();
          for (int j = 0; j < 4; ++j) {
            s0 = dpbusd_bcast(s0, lo[j], q + 4 * j);
            s1 = dpbusd_bcast(s1, hi[j], q + 16 + 4 * j);
          }
          const __m512 v =
              _mm512_mul_ps(_mm512_mul_ps(d[c], lsf), _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)));
          sum[c] = _mm512_add_ps(sum[c], opaque(v));
        }
      }
    }
    for (int c = 0; c < C; ++c) store(a, t, c, sum[c]);
  }
};

struct Q4_K {
  static constexpr int kMaxCols = 6;
  // Per super-block, the activation sums of sub-blocks 2i and 2i+1 (each a sum of 32 int8, so an
  // int16) packed into one 32-bit word: vpdpwssd against the mins packed the same way gives
  // sum_j m_j * bsum_j in 4 instructions per activation row.
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
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    const __m512i low6 = _mm512_set1_epi32(63);
    const __m512i low4d = _mm512_set1_epi32(0xf);
    const __m512i low2d = _mm512_set1_epi32(3);
    const uint8_t* y[C];
    __m512 sum[C];
    for (int c = 0; c < C; ++c) {
      y[c] = activation_row(a, t.col + c);
      sum[c] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < a.k / quant::kQK_K; ++b) {
      const uint8_t* blk = t.group + b * 2304;
      prefetch_ahead(blk, 2304);
      const __m512i w1 = load64(blk + 64), w2 = load64(blk + 128), w3 = load64(blk + 192);
      const auto scale = [&](int j) {
        if (j < 4) return _mm512_and_si512(_mm512_srli_epi32(w1, 8 * j), low6);
        return _mm512_or_si512(
            _mm512_and_si512(_mm512_srli_epi32(w3, 8 * (j - 4)), low4d),
            _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(w1, 8 * (j - 4) + 6), low2d), 4));
      };
      const auto min = [&](int j) {
        if (j < 4) return _mm512_and_si512(_mm512_srli_epi32(w2, 8 * j), low6);
        return _mm512_or_si512(
            _mm512_and_si512(_mm512_srli_epi32(w3, 8 * (j - 4) + 4), low4d),
            _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(w2, 8 * (j - 4) + 6), low2d), 4));
      };
      __m512i scaled[C];
      for (int c = 0; c < C; ++c) scaled[c] = _mm512_setzero_si512();
      for (int j = 0; j < 8; ++j) {
        // Sub-block j: nibble j % 2 of qs[32 (j/2) ..], chunks 8 (j/2) .. 8 (j/2) + 7.
        __m512i w[8];
        for (int i = 0; i < 8; ++i) {
          const __m512i raw = load64(blk + 256 + (8 * (j / 2) + i) * 64);
          w[i] = _mm512_and_si512(j % 2 ? _mm512_srli_epi16(raw, 4) : raw, low4);
        }
        const __m512i sc = scale(j);
        for (int c = 0; c < C; ++c) {
          const uint8_t* q = y[c] + b * sizeof(BlockQ8_K) + kQ8KQs + 32 * j;
          __m512i s0 = _mm512_setzero_si512();
          __m512i s1 = _mm512_setzero_si512();
          for (int i = 0; i < 4; ++i) {
            s0 = dpbusd_bcast(s0, w[i], q + 4 * i);
            s1 = dpbusd_bcast(s1, w[i + 4], q + 16 + 4 * i);
          }
          scaled[c] = _mm512_add_epi32(scaled[c], _mm512_mullo_epi32(sc, _mm512_add_epi32(s0, s1)));
        }
      }
      const __m512 dw = load_f16x16(blk);
      const __m512 dmin = load_f16x16(blk + 32);
      __m512i min_pairs[4];  // m_{2i} | m_{2i+1} << 16 per row
      for (int i = 0; i < 4; ++i) {
        min_pairs[i] = _mm512_or_si512(min(2 * i), _mm512_slli_epi32(min(2 * i + 1), 16));
      }
      for (int c = 0; c < C; ++c) {
        __m512i mins = _mm512_setzero_si512();
        for (int i = 0; i < 4; ++i) {
          mins = _mm512_dpwssd_epi32(mins, min_pairs[i],
                                     _mm512_set1_epi32(t.off[c * t.units + 4 * b + i]));
        }
        const __m512 yd = _mm512_set1_ps(q8k_d(y[c] + b * sizeof(BlockQ8_K)));
        const __m512 pos = _mm512_mul_ps(_mm512_mul_ps(dw, yd), _mm512_cvtepi32_ps(scaled[c]));
        const __m512 neg = _mm512_mul_ps(_mm512_mul_ps(dmin, yd), _mm512_cvtepi32_ps(mins));
        sum[c] = _mm512_add_ps(sum[c], _mm512_sub_ps(opaque(pos), opaque(neg)));
      }
    }
    for (int c = 0; c < C; ++c) store(a, t, c, sum[c]);
  }
};

struct Q6_K {
  static constexpr int kMaxCols = 6;
  static int64_t units(int64_t k) { return k / 16; }
  static void meta(const uint8_t* y, int64_t k, int32_t* off, float*, float*) {
    for (int64_t b = 0; b < k / quant::kQK_K; ++b, y += sizeof(BlockQ8_K)) {
      for (int s = 0; s < 16; ++s) off[16 * b + s] = -32 * bsum(y, s);
    }
  }
  template <int C>
  static void tile(const MatmulArgs& a, const Tile& t) {
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    const __m512i bits45 = _mm512_set1_epi8(0x30);
    const uint8_t* y[C];
    __m512 sum[C];
    for (int c = 0; c < C; ++c) {
      y[c] = activation_row(a, t.col + c);
      sum[c] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < a.k / quant::kQK_K; ++b) {
      const uint8_t* blk = t.group + b * 3360;
      prefetch_ahead(blk, 3360);
      __m512i scaled[C];
      for (int c = 0; c < C; ++c) scaled[c] = _mm512_setzero_si512();
      for (int h = 0; h < 2; ++h) {
        for (int lh = 0; lh < 2; ++lh) {
          __m512i qh[4];
          for (int i = 0; i < 4; ++i) qh[i] = load64(blk + 2336 + (8 * h + 4 * lh + i) * 64);
          for (int kk = 0; kk < 2; ++kk) {
            __m512i ql[4];
            for (int i = 0; i < 4; ++i)
              ql[i] = load64(blk + 288 + ((2 * h + kk) * 8 + 4 * lh + i) * 64);
            for (int nib = 0; nib < 2; ++nib) {
              // Weights 16 lh .. 16 lh + 15 of group k = kk + 2 nib of half h: sub-block s.
              const int k = kk + 2 * nib;
              const int s = 8 * h + 2 * k + lh;
              __m512i w[4];
              for (int i = 0; i < 4; ++i) {
                const __m512i low =
                    _mm512_and_si512(nib ? _mm512_srli_epi16(ql[i], 4) : ql[i], low4);
                const __m512i high =
                    2 * k >= 4 ? _mm512_and_si512(_mm512_srli_epi16(qh[i], 2 * k - 4), bits45)
                               : _mm512_and_si512(_mm512_slli_epi16(qh[i], 4 - 2 * k), bits45);
                w[i] = _mm512_or_si512(low, high);
              }
              const __m512i sc = _mm512_cvtepi8_epi32(
                  _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 32 + 16 * s)));
              for (int c = 0; c < C; ++c) {
                const uint8_t* q = y[c] + b * sizeof(BlockQ8_K) + kQ8KQs + 16 * s;
                __m512i acc = _mm512_set1_epi32(t.off[c * t.units + 16 * b + s]);
                for (int i = 0; i < 4; ++i) acc = dpbusd_bcast(acc, w[i], q + 4 * i);
                scaled[c] = _mm512_add_epi32(scaled[c], _mm512_mullo_epi32(sc, acc));
              }
            }
          }
        }
      }
      const __m512 dw = load_f16x16(blk);
      for (int c = 0; c < C; ++c) {
        const __m512 v =
            _mm512_mul_ps(_mm512_mul_ps(dw, _mm512_set1_ps(q8k_d(y[c] + b * sizeof(BlockQ8_K)))),
                          _mm512_cvtepi32_ps(scaled[c]));
        sum[c] = _mm512_add_ps(sum[c], opaque(v));
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
    for (int64_t r = row_begin; r < row_end; r += pack16::kRows) {
      const int64_t n_rows = std::min<int64_t>(pack16::kRows, row_end - r);
      for (int64_t c = 0; c < n_cols; c += F::kMaxCols) {
        const int64_t m = c * meta.units;
        const Tile t{a.weights + static_cast<uint64_t>(r / pack16::kRows) * group_bytes,
                     r,
                     static_cast<__mmask16>((1u << n_rows) - 1),
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
                     int64_t units_per_elem_divisor) {
  RepackKernels r;
  r.group_rows = pack16::kRows;
  r.size = &pack16::size;
  r.pack = pack;
  r.matmul = &packed_matmul<F>;
  r.max_k = static_cast<int64_t>(kMetaEntries) * units_per_elem_divisor;
  return r;
}

}  // namespace

void install_matmul_packed(KernelTable& table) {
  table.repack[static_cast<size_t>(TensorType::kQ4_0)] = repack<Q4_0>(&pack16::pack_q4_0, 32);
  table.repack[static_cast<size_t>(TensorType::kQ8_0)] = repack<Q8_0>(&pack16::pack_q8_0, 32);
  table.repack[static_cast<size_t>(TensorType::kQ4_1)] = repack<Q4_1>(&pack16::pack_q4_1, 32);
  table.repack[static_cast<size_t>(TensorType::kIQ4_XS)] = repack<IQ4_XS>(&pack16::pack_iq4_xs, 32);
  table.repack[static_cast<size_t>(TensorType::kQ4_K)] = repack<Q4_K>(&pack16::pack_q4_k, 64);
  table.repack[static_cast<size_t>(TensorType::kQ6_K)] = repack<Q6_K>(&pack16::pack_q6_k, 16);
}

}  // namespace lathe::kernels::x86::avx512
