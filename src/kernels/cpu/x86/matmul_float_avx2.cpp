// AVX2 matmuls of F32, F16 and BF16; the AVX2 counterpart of matmul_float_avx512.cpp (one 8-lane
// f32 accumulator per pair of rows, the same steps whatever the tile, so results never depend on
// the batch size). The tail of k is copied into a zero-padded buffer, AVX2 having no masked
// 16-bit loads.
//
// All three are repacked at load into groups of 4 interleaved rows in steps of 8 elements
// (pack_rows4.h): a single 8-lane chain of dependent FMAs would hold one row-major row to 8
// weights per FMA latency (~16 GB/s of F16 per thread at 4 GHz).
#include <algorithm>

#include "kernels/cpu/x86/common_avx2.h"
#include "kernels/cpu/x86/pack_rows4.h"
#include "kernels/cpu/x86/static_for.h"
#include "kernels/cpu/x86/x86_kernels.h"

namespace lathe::kernels::x86::avx2 {

namespace {

struct F32 {
  static constexpr int kElemBytes = 4;
  static __m256 load(const uint8_t* p) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  }
};

struct F16 {
  static constexpr int kElemBytes = 2;
  static __m256 load(const uint8_t* p) { return _mm256_cvtph_ps(load16(p)); }
};

struct BF16 {
  static constexpr int kElemBytes = 2;
  static __m256 load(const uint8_t* p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load16(p)), 16));
  }
};

// A fixed tree: halves, then pairs, then the last two lanes.
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// kRows weight rows × C activation rows, accumulators indexed through static_for only (see
// matmul_float_avx512.cpp); a tile at the end of the range repeats its last row (packed: reads
// the group's zero rows) and drops the extra results.
constexpr int kRows = 4;

template <class T>
using Packed = rows4::Layout<8, T::kElemBytes>;
static_assert(rows4::kRows == kRows, "a packed group is one tile of rows");

template <class T, int C, int kTileRows, bool kPacked, bool kPrefetch>
void tile(const MatmulArgs& a, int64_t r0, int64_t n_rows, int64_t c0) {
  static_assert(!kPacked || kTileRows == kRows, "a packed tile is one group");
  // Bytes from one step of 8 elements of a weight row to the next.
  constexpr int64_t kStride = Packed<T>::template step_stride<kPacked>();
  const uint8_t* w[kTileRows];
  const uint8_t* x[C];
  for (int r = 0; r < kTileRows; ++r) {
    w[r] = kPacked ? Packed<T>::row_start(a.weights, a.k, r0 + r)
                   : a.weights + static_cast<uint64_t>(r0 + std::min<int64_t>(r, n_rows - 1)) *
                                     a.weight_row_bytes;
  }
  for (int c = 0; c < C; ++c) x[c] = activation_row(a, c0 + c);
  __m256 acc[kTileRows][C];
  static_for<C>(
      [&](auto c) { static_for<kTileRows>([&](auto r) { acc[r][c] = _mm256_setzero_ps(); }); });
  // The tail reads from zero-padded copies through the same loop body.
  alignas(32) uint8_t pad[kTileRows + C][8 * T::kElemBytes] = {};
  const int64_t full = a.k / 8 * 8;
  if (full < a.k) {
    const size_t n = static_cast<size_t>(a.k - full) * T::kElemBytes;
    for (int r = 0; r < kTileRows; ++r) std::memcpy(pad[r], w[r] + full / 8 * kStride, n);
    for (int c = 0; c < C; ++c) std::memcpy(pad[kTileRows + c], x[c] + full * T::kElemBytes, n);
  }
  for (int64_t i = 0; i < a.k; i += 8) {
    const bool tail = i == full;
    const int64_t off = i * T::kElemBytes;
    const int64_t w_off = i / 8 * kStride;
    if constexpr (kPrefetch) Packed<T>::prefetch_ahead(w[0] + w_off);
    __m256 wv[kTileRows];
    static_for<kTileRows>([&](auto r) { wv[r] = T::load(tail ? pad[r] : w[r] + w_off); });
    static_for<C>([&](auto c) {
      const __m256 xv = T::load(tail ? pad[kTileRows + c] : x[c] + off);
      static_for<kTileRows>([&](auto r) { acc[r][c] = _mm256_fmadd_ps(wv[r], xv, acc[r][c]); });
    });
  }
  static_for<C>([&](auto c) {
    float* out = a.out + (c0 + c) * a.out_stride + r0;
    static_for<kTileRows>([&](auto r) {
      if (r < n_rows) {
        const float v = hsum(acc[r][c]);
        out[r] = a.bias != nullptr ? v + a.bias[r0 + r] : v;
      }
    });
  });
}

template <class T, int C, int kTileRows, bool kPacked, bool kPrefetch>
void tile_cols(const MatmulArgs& a, int64_t r0, int64_t n_rows, int64_t c0, int64_t n) {
  if constexpr (C > 0) {
    if (n == C) {
      tile<T, C, kTileRows, kPacked, kPrefetch>(a, r0, n_rows, c0);
    } else {
      tile_cols<T, C - 1, kTileRows, kPacked, kPrefetch>(a, r0, n_rows, c0, n);
    }
  }
}

template <class T, int kTileRows, bool kPacked, bool kPrefetch = false>
void matmul_rows(const MatmulArgs& a, int64_t row_begin, int64_t row_end) {
  for (int64_t r = row_begin; r < row_end; r += kTileRows) {
    const int64_t n_rows = std::min<int64_t>(kTileRows, row_end - r);
    for (int64_t c = 0; c < a.n_b; c += 2)
      tile_cols<T, 2, kTileRows, kPacked, kPrefetch>(a, r, n_rows, c,
                                                     std::min<int64_t>(2, a.n_b - c));
  }
}

// Row-major, generation reads one weight row at a time, a sequential stream per thread (see
// matmul_float_avx512.cpp); packed, the group's 4 rows are one stream. Batches beyond two rows
// reuse each converted weight vector.
template <class T, bool kPacked>
void matmul(const MatmulArgs& a, int64_t row_begin, int64_t row_end) {
  if (a.n_b > 2) {
    matmul_rows<T, kRows, kPacked>(a, row_begin, row_end);
  } else if constexpr (kPacked) {
    // Generation streams the group from DRAM: prefetched. The GEMM reuses each tile's weights from
    // L1 across the batch, where the same prefetch cost F32 15-30 %.
    matmul_rows<T, kRows, true, true>(a, row_begin, row_end);
  } else {
    matmul_rows<T, 1, false>(a, row_begin, row_end);
  }
}

}  // namespace

void install_matmul_float(KernelTable& table) {
  table.matmul[static_cast<size_t>(TensorType::kF32)] = &matmul<F32, false>;
  table.matmul[static_cast<size_t>(TensorType::kF16)] = &matmul<F16, false>;
  table.matmul[static_cast<size_t>(TensorType::kBF16)] = &matmul<BF16, false>;
  table.repack[static_cast<size_t>(TensorType::kF32)] =
      rows4::repack_kernels<Packed<F32>>(&matmul<F32, true>);
  table.repack[static_cast<size_t>(TensorType::kF16)] =
      rows4::repack_kernels<Packed<F16>>(&matmul<F16, true>);
  table.repack[static_cast<size_t>(TensorType::kBF16)] =
      rows4::repack_kernels<Packed<BF16>>(&matmul<BF16, true>);
}

}  // namespace lathe::kernels::x86::avx2
