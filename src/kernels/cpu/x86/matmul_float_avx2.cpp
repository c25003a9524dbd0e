// AVX2 matmuls of F32, F16 and BF16; the AVX2 counterpart of matmul_float_avx512.cpp (one 8-lane
// f32 accumulator per pair of rows, the same steps whatever the tile, so results never depend on
// the batch size). The tail of k is copied into a zero-padded buffer, AVX2 having no masked
// 16-bit loads.
#include <algorithm>

#include "kernels/cpu/x86/common_avx2.h"
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

template <class T, int R, int C>
void tile(const MatmulArgs& a, int64_t r0, int64_t c0) {
  const uint8_t* w[R];
  const uint8_t* x[C];
  for (int r = 0; r < R; ++r) w[r] = a.weights + static_cast<uint64_t>(r0 + r) * a.weight_row_bytes;
  for (int c = 0; c < C; ++c) x[c] = activation_row(a, c0 + c);
  __m256 acc[R][C];
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  }
  const auto step = [&](const uint8_t* const* wp, const uint8_t* const* xp) {
    __m256 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = T::load(wp[r]);
    for (int c = 0; c < C; ++c) {
      const __m256 xv = T::load(xp[c]);
      for (int r = 0; r < R; ++r) acc[r][c] = _mm256_fmadd_ps(wv[r], xv, acc[r][c]);
    }
  };
  int64_t i = 0;
  for (; i + 8 <= a.k; i += 8) {
    const uint8_t* wp[R];
    const uint8_t* xp[C];
    for (int r = 0; r < R; ++r) wp[r] = w[r] + i * T::kElemBytes;
    for (int c = 0; c < C; ++c) xp[c] = x[c] + i * T::kElemBytes;
    step(wp, xp);
  }
  if (i < a.k) {
    uint8_t pad[R + C][8 * T::kElemBytes] = {};
    const uint8_t* wp[R];
    const uint8_t* xp[C];
    const size_t n = static_cast<size_t>(a.k - i) * T::kElemBytes;
    for (int r = 0; r < R; ++r) {
      std::memcpy(pad[r], w[r] + i * T::kElemBytes, n);
      wp[r] = pad[r];
    }
    for (int c = 0; c < C; ++c) {
      std::memcpy(pad[R + c], x[c] + i * T::kElemBytes, n);
      xp[c] = pad[R + c];
    }
    step(wp, xp);
  }
  for (int c = 0; c < C; ++c) {
    for (int r = 0; r < R; ++r) {
      // A fixed tree: halves, then pairs, then the last two lanes.
      __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[r][c]), _mm256_extractf128_ps(acc[r][c], 1));
      s = _mm_add_ps(s, _mm_movehl_ps(s, s));
      s = _mm_add_ss(s, _mm_movehdup_ps(s));
      float v = _mm_cvtss_f32(s);
      if (a.bias != nullptr) v += a.bias[r0 + r];
      a.out[(c0 + c) * a.out_stride + r0 + r] = v;
    }
  }
}

template <class T, int R, int C>
void tile_cols(const MatmulArgs& a, int64_t r0, int64_t c0, int64_t n) {
  if constexpr (C > 0) {
    if (n == C) {
      tile<T, R, C>(a, r0, c0);
    } else {
      tile_cols<T, R, C - 1>(a, r0, c0, n);
    }
  }
}

template <class T, int R>
void tile_rows(const MatmulArgs& a, int64_t r0, int64_t n_rows) {
  if constexpr (R > 0) {
    if (n_rows == R) {
      for (int64_t c = 0; c < a.n_b; c += 3)
        tile_cols<T, R, 3>(a, r0, c, std::min<int64_t>(3, a.n_b - c));
    } else {
      tile_rows<T, R - 1>(a, r0, n_rows);
    }
  }
}

template <class T>
void matmul(const MatmulArgs& a, int64_t row_begin, int64_t row_end) {
  for (int64_t r = row_begin; r < row_end; r += 4)
    tile_rows<T, 4>(a, r, std::min<int64_t>(4, row_end - r));
}

}  // namespace

void install_matmul_float(KernelTable& table) {
  table.matmul[static_cast<size_t>(TensorType::kF32)] = &matmul<F32>;
  table.matmul[static_cast<size_t>(TensorType::kF16)] = &matmul<F16>;
  table.matmul[static_cast<size_t>(TensorType::kBF16)] = &matmul<BF16>;
}

}  // namespace lathe::kernels::x86::avx2
