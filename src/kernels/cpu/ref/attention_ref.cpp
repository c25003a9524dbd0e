// Attention of one head, fused: scores, softmax and the weighted sum of V without an n×n matrix.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/cpu/ref/ref.h"
#include "quant/fp16.h"

namespace lathe::kernels::ref {

namespace {

// The online softmax over the visible cells in [c0, c1): acc (d values) gets Σ weight·v relative
// to the running maximum, `max` and `sum` the final maximum and sum of weights.
void flash_head(const uint8_t* q_converted, const ops::KvLayerView& kv, int64_t kv_head,
                const ops::CellRange* ranges, int64_t n_ranges, int64_t c0, int64_t c1,
                const ops::AttentionParams& p, const KernelTable& kernels, float* v_row, float* acc,
                float& max, float& sum) {
  const int64_t d = p.head_dim;
  const DotFn dot = kernels.dot_for(kv.type_k);
  const DequantizeRowFn dequantize_v = kernels.dequantize_for(kv.type_v);
  const uint64_t k_head_bytes = kv.k_row_bytes / static_cast<uint64_t>(p.n_head_kv);
  const uint64_t v_head_bytes = kv.v_row_bytes / static_cast<uint64_t>(p.n_head_kv);
  const auto* k_base = static_cast<const uint8_t*>(kv.k) + kv_head * k_head_bytes;
  const auto* v_base = static_cast<const uint8_t*>(kv.v) + kv_head * v_head_bytes;
  for (int64_t i = 0; i < d; ++i) acc[i] = 0.0f;
  float running_max = -std::numeric_limits<float>::infinity();
  float running_sum = 0.0f;
  for (int64_t r = 0; r < n_ranges; ++r) {
    const int64_t begin = std::max<int64_t>(ranges[r].begin, c0);
    const int64_t end = std::min<int64_t>(ranges[r].end, c1);
    for (int64_t c = begin; c < end; ++c) {
      const float s =
          dot(d, k_base + static_cast<uint64_t>(c) * kv.k_row_bytes, q_converted) * p.scale;
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
  max = running_max;
  sum = running_sum;
}

}  // namespace

void attention_head(const float* q, const ops::KvLayerView& kv, int64_t kv_head,
                    const ops::CellRange* ranges, int64_t n_ranges, const ops::AttentionParams& p,
                    const KernelTable& kernels, AttentionScratch& scratch, float* out) {
  const int64_t d = p.head_dim;
  // q meets K in K's dot-product format (f16 for an f16 cache, q8_0 for quantized caches), the
  // same pairing a matmul with K as weights would use.
  const TensorType q_type = kernels.vec_dot_type_for(kv.type_k);
  kernels.quantize_for(q_type)(q, scratch.q_converted.data(), d);
  float* acc = scratch.acc.data();
  float* v_row = scratch.v_row.data();

  if (p.flash) {
    float max = 0.0f, sum = 0.0f;
    flash_head(scratch.q_converted.data(), kv, kv_head, ranges, n_ranges, 0, INT32_MAX, p,
               kernels, v_row, acc, max, sum);
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (int64_t i = 0; i < d; ++i) out[i] = acc[i] * inv;
    return;
  }

  const DotFn dot = kernels.dot_for(kv.type_k);
  const DequantizeRowFn dequantize_v = kernels.dequantize_for(kv.type_v);
  const uint64_t k_head_bytes = kv.k_row_bytes / static_cast<uint64_t>(p.n_head_kv);
  const uint64_t v_head_bytes = kv.v_row_bytes / static_cast<uint64_t>(p.n_head_kv);
  const auto* k_base = static_cast<const uint8_t*>(kv.k) + kv_head * k_head_bytes;
  const auto* v_base = static_cast<const uint8_t*>(kv.v) + kv_head * v_head_bytes;
  for (int64_t i = 0; i < d; ++i) acc[i] = 0.0f;
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

namespace lathe::kernels::ref {

void attention_item(const AttentionArgs& args, const AttentionItem& item, AttentionScratch& scratch) {
  const ops::AttentionParams& p = *args.params;
  const int64_t d = p.head_dim;
  const int64_t gqa = p.n_head / p.n_head_kv;
  const int64_t nt = item.t1 - item.t0;
  const bool whole = item.c0 <= 0 && item.c1 >= INT32_MAX && item.partial == nullptr;
  for (int64_t g = item.g0; g < item.g1; ++g) {
    for (int64_t t = item.t0; t < item.t1; ++t) {
      const int32_t r0 = args.mask->offsets[t];
      const int32_t r1 = args.mask->offsets[t + 1];
      for (int64_t j = 0; j < gqa; ++j) {
        const int64_t offset = (t * p.n_head + g * gqa + j) * d;
        if (whole || !p.flash) {
          // The plain path is never split (its probabilities need every score first).
          attention_head(args.q + offset, *args.kv, g, args.mask->ranges + r0, r1 - r0, p,
                         *args.table, scratch, args.out + offset);
          continue;
        }
        const TensorType q_type = args.table->vec_dot_type_for(args.kv->type_k);
        args.table->quantize_for(q_type)(args.q + offset, scratch.q_converted.data(), d);
        const int64_t row = ((g - item.g0) * nt + (t - item.t0)) * gqa + j;
        float* acc = item.partial != nullptr ? item.partial + row * (d + 2) : scratch.acc.data();
        float max = 0.0f, sum = 0.0f;
        flash_head(scratch.q_converted.data(), *args.kv, g, args.mask->ranges + r0, r1 - r0,
                   item.c0, item.c1, p, *args.table, scratch.v_row.data(), acc, max, sum);
        if (item.partial != nullptr) {
          acc[d] = max;
          acc[d + 1] = sum;
        } else {
          const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
          for (int64_t i = 0; i < d; ++i) args.out[offset + i] = acc[i] * inv;
        }
      }
    }
  }
}

void merge_attention_partials(const AttentionArgs& args, const AttentionItem& item,
                              const float* parts, int64_t part_stride, int64_t n_parts) {
  const ops::AttentionParams& p = *args.params;
  const int64_t d = p.head_dim;
  const int64_t gqa = p.n_head / p.n_head_kv;
  const int64_t nt = item.t1 - item.t0;
  const int64_t rows = (item.g1 - item.g0) * nt * gqa;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t g = item.g0 + r / (nt * gqa);
    const int64_t t = item.t0 + r / gqa % nt;
    float* out = args.out + (t * p.n_head + g * gqa + r % gqa) * d;
    float max = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n_parts; ++i) max = std::max(max, parts[i * part_stride + r * (d + 2) + d]);
    for (int64_t k = 0; k < d; ++k) out[k] = 0.0f;
    if (max == -std::numeric_limits<float>::infinity()) continue;  // no visible cell
    float sum = 0.0f;
    for (int64_t i = 0; i < n_parts; ++i) {
      const float* part = parts + i * part_stride + r * (d + 2);
      if (part[d] == -std::numeric_limits<float>::infinity()) continue;
      const float w = std::exp(part[d] - max);
      sum += w * part[d + 1];
      for (int64_t k = 0; k < d; ++k) out[k] += w * part[k];
    }
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (int64_t k = 0; k < d; ++k) out[k] *= inv;
  }
}

}  // namespace lathe::kernels::ref
