// AVX-512 matmuls of the float formats: F32 (activations f32), F16 (f16) and BF16 (bf16).
//
// Every (weight row, activation row) pair owns one 16-lane f32 accumulator that walks k in the
// same steps whatever the tile around it, and ends in the same horizontal sum: a result never
// depends on the batch size or on the row split. A tile of 4 weight rows × up to 6 activation
// rows (1 weight row for batches of up to 4) converts each loaded vector once for all the pairs
// that use it.
//
// BF16 uses vdpbf16ps (two products per lane and step) where the CPU has AVX512_BF16.
#include <type_traits>

#include "kernels/cpu/x86/common_avx512.h"
#include "kernels/cpu/x86/static_for.h"
#include "kernels/cpu/x86/x86_kernels.h"

namespace lathe::kernels::x86::avx512 {

namespace {

// Loads 16 elements as f32; `mask` selects the valid ones (the rest read as 0).
struct F32 {
  static constexpr int kStep = 16;
  static constexpr int kElementBytes = 4;
  using Vec = __m512;
  static Vec load(const uint8_t* p, int64_t i, __mmask16 mask) {
    return _mm512_maskz_loadu_ps(mask, reinterpret_cast<const float*>(p) + i);
  }
  static __m512 madd(__m512 acc, Vec w, Vec x) { return _mm512_fmadd_ps(w, x, acc); }
  static Vec load_x(const uint8_t* p, int64_t i, __mmask16 mask) { return load(p, i, mask); }
};

struct F16 {
  static constexpr int kStep = 16;
  static constexpr int kElementBytes = 2;
  using Vec = __m512;
  static Vec load(const uint8_t* p, int64_t i, __mmask16 mask) {
    return _mm512_cvtph_ps(
        _mm256_maskz_loadu_epi16(mask, reinterpret_cast<const uint16_t*>(p) + i));
  }
  static __m512 madd(__m512 acc, Vec w, Vec x) { return _mm512_fmadd_ps(w, x, acc); }
  static Vec load_x(const uint8_t* p, int64_t i, __mmask16 mask) { return load(p, i, mask); }
};

struct BF16 {
  static constexpr int kStep = 16;
  static constexpr int kElementBytes = 2;
  using Vec = __m512;
  static Vec load(const uint8_t* p, int64_t i, __mmask16 mask) {
    const __m256i h = _mm256_maskz_loadu_epi16(mask, reinterpret_cast<const uint16_t*>(p) + i);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  static __m512 madd(__m512 acc, Vec w, Vec x) { return _mm512_fmadd_ps(w, x, acc); }
  static Vec load_x(const uint8_t* p, int64_t i, __mmask16 mask) { return load(p, i, mask); }
};

// 32 bf16 per step, paired products with vdpbf16ps.
struct BF16Dot {
  static constexpr int kStep = 32;
  static constexpr int kElementBytes = 2;
  using Vec = __m512i;
  static Vec load(const uint8_t* p, int64_t i, __mmask32 mask) {
    return _mm512_maskz_loadu_epi16(mask, reinterpret_cast<const uint16_t*>(p) + i);
  }
  static __m512 madd(__m512 acc, Vec w, Vec x) {
    return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh&>(w), reinterpret_cast<__m512bh&>(x));
  }
  static Vec load_x(const uint8_t* p, int64_t i, __mmask32 mask) { return load(p, i, mask); }
};

// F16 weights against activation rows already converted to f32 (see matmul_f16_gemm): the same
// products in the same order as F16, without a conversion per activation vector.
struct F16WeightsF32Activations {
  static constexpr int kStep = 16;
  static constexpr int kElementBytes = 2;
  using Vec = __m512;
  static Vec load(const uint8_t* p, int64_t i, __mmask16 mask) { return F16::load(p, i, mask); }
  static __m512 madd(__m512 acc, Vec w, Vec x) { return _mm512_fmadd_ps(w, x, acc); }
  static Vec load_x(const uint8_t* p, int64_t i, __mmask16 mask) { return F32::load(p, i, mask); }
};

template <class T>
auto tail_mask(int64_t n) {
  if constexpr (T::kStep == 32) {
    return static_cast<__mmask32>(n >= 32 ? 0xffffffffu : (1u << n) - 1);
  } else {
    return static_cast<__mmask16>(n >= 16 ? 0xffffu : (1u << n) - 1);
  }
}

// kTileRows weight rows × C activation rows. The accumulators are only ever indexed through
// static_for (see static_for.h), so they live in registers. A tile at the end of the range repeats
// its last row and drops the extra results.
constexpr int kRows = 4;
constexpr int kCols = 6;

template <class T, int C, int kTileRows>
void tile(const MatmulArgs& a, int64_t r0, int64_t n_rows, int64_t c0) {
  const uint8_t* w[kTileRows];
  const uint8_t* x[C];
  for (int r = 0; r < kTileRows; ++r) {
    w[r] = a.weights +
           static_cast<uint64_t>(r0 + std::min<int64_t>(r, n_rows - 1)) * a.weight_row_bytes;
  }
  for (int c = 0; c < C; ++c) x[c] = activation_row(a, c0 + c);
  __m512 acc[kTileRows][C];
  static_for<C>(
      [&](auto c) { static_for<kTileRows>([&](auto r) { acc[r][c] = _mm512_setzero_ps(); }); });
  // One loop for the body and the tail (a partial mask on the last step).
  const auto full = tail_mask<T>(T::kStep);
  for (int64_t i = 0; i < a.k; i += T::kStep) {
    const auto mask = i + T::kStep <= a.k ? full : tail_mask<T>(a.k - i);
    // A line ahead in every row. A plain loop: GCC 12 drops a prefetch inside static_for's
    // generic lambda.
    for (int r = 0; r < kTileRows; ++r) {
      _mm_prefetch(reinterpret_cast<const char*>(w[r] + i * T::kElementBytes + kPrefetchBytes),
                   _MM_HINT_T0);
    }
    typename T::Vec wv[kTileRows];
    static_for<kTileRows>([&](auto r) { wv[r] = T::load(w[r], i, mask); });
    static_for<C>([&](auto c) {
      const typename T::Vec xv = T::load_x(x[c], i, mask);
      static_for<kTileRows>([&](auto r) { acc[r][c] = T::madd(acc[r][c], wv[r], xv); });
    });
  }
  static_for<C>([&](auto c) {
    float* out = a.out + (c0 + c) * a.out_stride + r0;
    static_for<kTileRows>([&](auto r) {
      if (r < n_rows) {
        const float v = _mm512_reduce_add_ps(acc[r][c]);
        out[r] = a.bias != nullptr ? v + a.bias[r0 + r] : v;
      }
    });
  });
}

template <class T, int C, int kTileRows>
void tile_cols(const MatmulArgs& a, int64_t r0, int64_t n_rows, int64_t c0, int64_t n) {
  if constexpr (C > 0) {
    if (n == C) {
      tile<T, C, kTileRows>(a, r0, n_rows, c0);
    } else {
      tile_cols<T, C - 1, kTileRows>(a, r0, n_rows, c0, n);
    }
  }
}

// Activation rows are taken in blocks of about kColumnBlockBytes, half of a Zen 4/5 or recent
// Intel L2, and every weight tile of the range runs over one block before the next: the block is
// then read from L2 rather than L3 for each weight tile (BF16 GEMM +20-30 %, F32 +40 % at 512
// rows; F16 is bound by its conversions and unchanged).
constexpr int64_t kColumnBlockBytes = 512 << 10;

template <class T, int kTileRows, int kTileCols = 4>
void matmul_rows(const MatmulArgs& a, int64_t row_begin, int64_t row_end) {
  const int64_t block = std::max<int64_t>(
      kTileCols, kColumnBlockBytes / (a.k * T::kElementBytes) / kTileCols * kTileCols);
  for (int64_t c0 = 0; c0 < a.n_b; c0 += block) {
    const int64_t c1 = std::min<int64_t>(a.n_b, c0 + block);
    for (int64_t r = row_begin; r < row_end; r += kTileRows) {
      const int64_t n_rows = std::min<int64_t>(kTileRows, row_end - r);
      for (int64_t c = c0; c < c1; c += kTileCols)
        tile_cols<T, kTileCols, kTileRows>(a, r, n_rows, c, std::min<int64_t>(kTileCols, c1 - c));
    }
  }
}

// F16 prompt processing: each activation vector was converted once per weight tile, 10
// vcvtph2ps per 24 FMAs in a 4 × 6 tile. Here each thread converts a block of activation rows to
// f32 once (exactly: every f16 is an f32) into a buffer that stays in L2, and the tiles read it as
// f32, 4 conversions per 24 FMAs. The products and their order are F16's, so are the results.
void matmul_f16_gemm(const MatmulArgs& a, int64_t row_begin, int64_t row_end) {
  constexpr int64_t kBufferFloats = 96 * 1024;  // 384 KiB on the stack
  const int64_t k_padded = (a.k + 15) / 16 * 16;
  if (k_padded * kCols > kBufferFloats) {
    matmul_rows<F16, kRows, kCols>(a, row_begin, row_end);
    return;
  }
  alignas(64) float buffer[kBufferFloats];
  const int64_t block = kBufferFloats / k_padded / kCols * kCols;
  for (int64_t c0 = 0; c0 < a.n_b; c0 += block) {
    const int64_t n = std::min(block, a.n_b - c0);
    for (int64_t c = 0; c < n; ++c) {
      const uint8_t* src = activation_row(a, c0 + c);
      float* dst = buffer + c * k_padded;
      for (int64_t i = 0; i < k_padded; i += 16) {
        const auto mask = tail_mask<F16>(std::max<int64_t>(a.k - i, 0));
        _mm512_store_ps(dst + i, F16::load(src, i, mask));
      }
    }
    MatmulArgs block_args = a;
    block_args.activations = reinterpret_cast<const uint8_t*>(buffer);
    block_args.activation_row_bytes = static_cast<uint64_t>(k_padded) * sizeof(float);
    block_args.n_b = n;
    block_args.out = a.out + c0 * a.out_stride;
    matmul_rows<F16WeightsF32Activations, kRows, kCols>(block_args, row_begin, row_end);
  }
}

// Up to 4 activation rows (generation, small batches) are bound by reading the weights: one
// weight row at a time makes each thread's reads one sequential stream, which the hardware
// prefetcher follows. Four rows side by side are four short streams (a 2048-wide F16 row is one
// 4 KiB page) that it does not: F16 streamed 19 GB/s per thread that way, 31 GB/s this way.
// Larger batches are bound by compute and reuse each converted weight vector for six
// activation rows and each activation vector for four weight rows.
template <class T>
void matmul(const MatmulArgs& a, int64_t row_begin, int64_t row_end) {
  if (a.n_b <= 4) {
    matmul_rows<T, 1>(a, row_begin, row_end);
  } else if constexpr (std::is_same_v<T, F16>) {
    matmul_f16_gemm(a, row_begin, row_end);
  } else {
    matmul_rows<T, kRows, kCols>(a, row_begin, row_end);
  }
}

}  // namespace

void install_matmul_float(KernelTable& table, bool bf16) {
  table.matmul[static_cast<size_t>(TensorType::kF32)] = &matmul<F32>;
  table.matmul[static_cast<size_t>(TensorType::kF16)] = &matmul<F16>;
  table.matmul[static_cast<size_t>(TensorType::kBF16)] = bf16 ? &matmul<BF16Dot> : &matmul<BF16>;
}

}  // namespace lathe::kernels::x86::avx512
