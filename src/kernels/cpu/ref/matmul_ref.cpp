// The reference matmul: the quant layer's scalar dot product, one weight row at a time, each row
// used for every activation row while it is in cache.
#include "kernels/cpu/ref/ref.h"

namespace lathe::kernels::ref {

void matmul_with_dot(DotFn dot, const MatmulArgs& a, int64_t row_begin, int64_t row_end) {
  for (int64_t r = row_begin; r < row_end; ++r) {
    const uint8_t* w = a.weights + static_cast<uint64_t>(r) * a.weight_row_bytes;
    const float b_r = a.bias ? a.bias[r] : 0.0f;
    for (int64_t b = 0; b < a.n_b; ++b) {
      const uint8_t* x = a.activations + static_cast<uint64_t>(b) * a.activation_row_bytes;
      a.out[b * a.out_stride + r] = dot(a.k, w, x) + b_r;
    }
  }
}

}  // namespace lathe::kernels::ref
