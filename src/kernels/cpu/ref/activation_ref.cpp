// Activation quantizers as llama.cpp's CPU runtime computes them.
//
// They differ from the weight quantizers (which are bit-exact with llama-quantize) in two
// details: the multiplier is 127/amax instead of 1/(amax/127), and values round half to even. On
// the chaotic random-weight fixtures an occasional one-step difference in a quantized activation
// grows into a visible difference in logits, so lathe follows the runtime's choice.
#include <cmath>

#include "kernels/cpu/ref/ref.h"
#include "quant/blocks.h"
#include "quant/fp16.h"

namespace lathe::kernels::ref {

namespace {

float quantize_activation_block(const float* x, int8_t* qs, int32_t* sum) {
  float amax = 0.0f;
  for (int j = 0; j < quant::kQK8_0; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  int32_t total = 0;
  for (int j = 0; j < quant::kQK8_0; ++j) {
    // nearbyint rounds half to even in the default rounding mode.
    const int32_t q = static_cast<int32_t>(std::nearbyint(x[j] * id));
    qs[j] = static_cast<int8_t>(q < -128 ? -128 : (q > 127 ? 127 : q));
    total += qs[j];
  }
  if (sum) *sum = total;
  return d;
}

}  // namespace

void quantize_activation_q8_0(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<quant::BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / quant::kQK8_0; ++b) {
    const float d = quantize_activation_block(src + b * quant::kQK8_0, blocks[b].qs, nullptr);
    blocks[b].d = quant::f32_to_f16(d);
  }
}

void quantize_activation_q8_1(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<quant::BlockQ8_1*>(dst);
  for (int64_t b = 0; b < n / quant::kQK8_1; ++b) {
    int32_t sum = 0;
    const float d = quantize_activation_block(src + b * quant::kQK8_1, blocks[b].qs, &sum);
    blocks[b].d = quant::f32_to_f16(d);
    blocks[b].s = quant::f32_to_f16(d * static_cast<float>(sum));
  }
}

}  // namespace lathe::kernels::ref
