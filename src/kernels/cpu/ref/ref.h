// Scalar reference kernels: plain loops, the oracle for the SIMD variants.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cpu/kernels.h"

namespace lathe::kernels::ref {

void matmul_with_dot(DotFn dot, const MatmulArgs& args, int64_t row_begin, int64_t row_end);

// y = x / sqrt(mean(x²) + eps) * w over one row (the mean accumulates in double, as ggml does).
void rms_norm_row(const float* x, const float* w, int64_t n, float eps, float* y);

// Per-position cos/sin table of one head: cache[2i] = cos θᵢ, cache[2i+1] = sin θᵢ, for the
// n_rot/2 rotated pairs.
void rope_cache(float position, const ops::RopeParams& p, float* cache);
// Rotates one head of head_dim values in place with a cache from rope_cache.
void rope_head(float* x, const float* cache, const ops::RopeParams& p);

void swiglu(const float* gate, const float* up, int64_t n, float* out);
void geglu(const float* gate, const float* up, int64_t n, float* out);
void scale(float* x, int64_t n, float factor);
void softcap(float* x, int64_t n, float cap);
void add(float* x, const float* y, int64_t n);
// y = e^x with std::exp, the oracle of the vectorized exp.
void exp(const float* x, float* y, int64_t n);

}  // namespace lathe::kernels::ref

namespace lathe::kernels::ref {

// Per-thread buffers of the attention kernel, sized once for the largest head and context.
using AttentionScratch = kernels::AttentionScratch;

// Attention of one query head over the visible cells; writes head_dim values to out.
// `flash` uses an online softmax in one pass; otherwise scores are materialized first.
void attention_head(const float* q, const ops::KvLayerView& kv, int64_t kv_head,
                    const ops::CellRange* ranges, int64_t n_ranges, const ops::AttentionParams& p,
                    const KernelTable& kernels, AttentionScratch& scratch, float* out);

// The table's attention entry at the scalar level: attention_head for every (token, query head)
// of the work item (all cells: the reference does not split cells, see AttentionItem).
void attention_item(const AttentionArgs& args, const AttentionItem& item, AttentionScratch& scratch);

// Combines the partial results of n_parts items that split one item's cells (AttentionItem::
// partial; share i at parts + i·part_stride): per row, the accumulators rescaled to the largest
// maximum, summed, and divided by the rescaled sums; written to args.out for the rows of `item`.
void merge_attention_partials(const AttentionArgs& args, const AttentionItem& item,
                              const float* parts, int64_t part_stride, int64_t n_parts);

}  // namespace lathe::kernels::ref

namespace lathe::kernels::ref {

// Activation quantizers of llama.cpp's CPU runtime (see activation_ref.cpp).
void quantize_activation_q8_0(const float* src, void* dst, int64_t n);
void quantize_activation_q8_1(const float* src, void* dst, int64_t n);

}  // namespace lathe::kernels::ref
