// Attention of one head, fused: scores, softmax and the weighted sum of V without an n×n matrix.
#include <cmath>
#include <limits>

#include "kernels/cpu/ref/ref.h"
#include "quant/fp16.h"

namespace lathe::kernels::ref {

void attention_head(const float* q, const backend::KvLayerView& kv, int64_t kv_head,
                    const backend::CellRange* ranges, int64_t n_ranges,
                    const backend::AttentionParams& p, const KernelTable& kernels,
                    AttentionScratch& scratch, float* out) {
  const int64_t d = p.head_dim;
  // q meets K in K's dot-product format (f16 for an f16 cache, q8_0 for quantized caches), the
  // same pairing a matmul with K as weights would use.
  const TensorType q_type = kernels.vec_dot_type_for(kv.type_k);
  kernels.quantize_for(q_type)(q, scratch.q_converted.data(), d);
  const DotFn dot = kernels.dot_for(kv.type_k);
  const DequantizeRowFn dequantize_v = kernels.dequantize_for(kv.type_v);
  const uint64_t k_head_bytes = kv.k_row_bytes / static_cast<uint64_t>(p.n_head_kv);
  const uint64_t v_head_bytes = kv.v_row_bytes / static_cast<uint64_t>(p.n_head_kv);
  const auto* k_base = static_cast<const uint8_t*>(kv.k) + kv_head * k_head_bytes;
  const auto* v_base = static_cast<const uint8_t*>(kv.v) + kv_head * v_head_bytes;
  float* acc = scratch.acc.data();
  float* v_row = scratch.v_row.data();
  for (int64_t i = 0; i < d; ++i) acc[i] = 0.0f;

  if (p.flash) {
    float running_max = -std::numeric_limits<float>::infinity();
    float running_sum = 0.0f;
    for (int64_t r = 0; r < n_ranges; ++r) {
      for (int32_t c = ranges[r].begin; c < ranges[r].end; ++c) {
        const float s = dot(d, k_base + static_cast<uint64_t>(c) * kv.k_row_bytes,
                            scratch.q_converted.data()) * p.scale;
        float weight = 1.0f;
        if (s > running_max) {
          // A new maximum rescales what was accumulated so far.
          const float correction = std::exp(running_max - s);
          for (int64_t i = 0; i < d; ++i) acc[i] *= correction;
          running_sum *= correction;
          running_max = s;
        } else {
          weight = std::exp(s - running_max);
        }
        dequantize_v(v_base + static_cast<uint64_t>(c) * kv.v_row_bytes, v_row, d);
        for (int64_t i = 0; i < d; ++i) acc[i] += weight * v_row[i];
        running_sum += weight;
      }
    }
    const float inv = running_sum > 0.0f ? 1.0f / running_sum : 0.0f;
    for (int64_t i = 0; i < d; ++i) out[i] = acc[i] * inv;
    return;
  }

  int64_t n = 0;
  float max_score = -std::numeric_limits<float>::infinity();
  for (int64_t r = 0; r < n_ranges; ++r) {
    for (int32_t c = ranges[r].begin; c < ranges[r].end; ++c) {
      const float s = dot(d, k_base + static_cast<uint64_t>(c) * kv.k_row_bytes,
                          scratch.q_converted.data()) * p.scale;
      scratch.scores[static_cast<size_t>(n++)] = s;
      if (s > max_score) max_score = s;
    }
  }
  double sum = 0.0;
  for (int64_t j = 0; j < n; ++j) {
    const float e = std::exp(scratch.scores[static_cast<size_t>(j)] - max_score);
    scratch.scores[static_cast<size_t>(j)] = e;
    sum += e;
  }
  const float inv = sum > 0.0 ? static_cast<float>(1.0 / sum) : 0.0f;
  const bool round_probabilities = kv.type_v == TensorType::kF16;
  int64_t j = 0;
  for (int64_t r = 0; r < n_ranges; ++r) {
    for (int32_t c = ranges[r].begin; c < ranges[r].end; ++c) {
      dequantize_v(v_base + static_cast<uint64_t>(c) * kv.v_row_bytes, v_row, d);
      float w = scratch.scores[static_cast<size_t>(j++)] * inv;
      // The plain path is the one llama.cpp takes without flash attention: there the
      // probabilities meet an f16 V as f16. Following it keeps `-fa off` comparable bit for bit
      // in spirit with the reference outputs.
      if (round_probabilities) w = quant::f16_to_f32(quant::f32_to_f16(w));
      for (int64_t i = 0; i < d; ++i) acc[i] += w * v_row[i];
    }
  }
  for (int64_t i = 0; i < d; ++i) out[i] = acc[i];
}

}  // namespace lathe::kernels::ref
