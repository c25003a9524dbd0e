// What attention reads: one layer of the KV cache, which cells each token sees, and the shape of
// the heads.
#pragma once

#include <cstdint>

#include "core/tensor_type.h"

namespace lathe::ops {

// One layer of the KV cache: each cell holds a row of n_head_kv * head_dim values in the cache's
// type, for K and for V.
struct KvLayerView {
  void* k = nullptr;
  void* v = nullptr;
  TensorType type_k = TensorType::kF16;
  TensorType type_v = TensorType::kF16;
  uint64_t k_row_bytes = 0;
  uint64_t v_row_bytes = 0;
};

// Cells visible to one token: [begin, end) ranges of cell indices.
struct CellRange {
  int32_t begin;
  int32_t end;
};

// For token t, ranges[offsets[t] .. offsets[t+1]) are the cells it attends to (host memory).
struct AttentionMask {
  const int32_t* offsets = nullptr;
  const CellRange* ranges = nullptr;
  const int32_t* positions = nullptr;  // each token's position (for diagnostics)
  // A summary, filled in by whoever builds the mask (the forward pass builds each mask once per
  // micro-batch and uses it in every layer) so that a backend sizes its work without scanning the
  // ranges again: per token, the lowest cell it sees and one past the highest ({INT32_MAX, 0}
  // when it sees none), and the most cells any token sees. Null bounds: not summarized.
  const CellRange* token_bounds = nullptr;
  int64_t max_visible = 0;
  // Every token's ranges are sorted and disjoint (KvCache::visible_ranges makes them so).
  bool sorted = false;
};

// Fills a mask's summary from its ranges; `bounds` receives one entry per token.
inline void summarize_mask(AttentionMask& mask, int64_t n_tokens, CellRange* bounds) {
  mask.max_visible = 0;
  mask.sorted = true;
  for (int64_t t = 0; t < n_tokens; ++t) {
    CellRange b{INT32_MAX, 0};
    int64_t visible = 0;
    for (int32_t r = mask.offsets[t]; r < mask.offsets[t + 1]; ++r) {
      const CellRange range = mask.ranges[r];
      visible += range.end - range.begin;
      if (range.end < range.begin ||
          (r > mask.offsets[t] && range.begin < mask.ranges[r - 1].end)) {
        mask.sorted = false;
      }
      if (range.begin < b.begin) b.begin = range.begin;
      if (range.end > b.end) b.end = range.end;
    }
    bounds[t] = b;
    if (visible > mask.max_visible) mask.max_visible = visible;
  }
  mask.token_bounds = bounds;
}

struct AttentionParams {
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;
  float scale = 1.0f;
  bool flash = true;  // online softmax over blocks; false keeps the plain scores-then-softmax path
};

}  // namespace lathe::ops
