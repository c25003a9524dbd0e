// The KV cache: cells tagged with a position and the set of sequences that share them, and the K
// and V rows of every layer for each cell.
#pragma once

#include <bitset>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/status.h"
#include "core/tensor_type.h"
#include "model/hparams.h"

namespace lathe::kv {

using SeqId = int32_t;
inline constexpr int kMaxSequences = 256;
using SeqSet = std::bitset<kMaxSequences>;

struct Cell {
  int32_t pos = -1;  // -1: empty
  SeqSet seqs;
  bool empty() const { return pos < 0; }
};

struct KvCacheOptions {
  int64_t n_cells = 4096;
  TensorType type_k = TensorType::kF16;
  TensorType type_v = TensorType::kF16;
};

// KV cache types lathe stores: f16, q8_0, q4_0.
Expected<TensorType> parse_kv_type(std::string_view name);

class KvCache {
 public:
  static Expected<KvCache> create(const model::HParams& hp, const KvCacheOptions& options,
                                  backend::Backend& backend);

  int64_t size() const { return static_cast<int64_t>(cells_.size()); }
  int64_t used() const { return used_; }
  // One past the highest occupied cell: attention never looks beyond it.
  int64_t extent() const { return extent_; }
  const std::vector<Cell>& cells() const { return cells_; }
  TensorType type_k() const { return type_k_; }
  TensorType type_v() const { return type_v_; }
  uint64_t bytes() const { return k_.size() + v_.size(); }

  ops::KvLayerView layer(int64_t il) const;

  // Claims one cell per token and tags it with the token's position and sequences. Fails without
  // changing anything when the cache has too few free cells, or when a token's position is not
  // after every position its sequences already hold.
  Status claim(std::span<const int32_t> positions, std::span<const SeqSet> seqs,
               std::vector<int32_t>& cells_out);

  // Removes [p0, p1) of a sequence (p1 < 0: to the end; seq < 0: every sequence).
  void seq_rm(SeqId seq, int32_t p0, int32_t p1);
  // Makes dst share src's cells in [p0, p1): a shared prompt is stored once.
  void seq_cp(SeqId src, SeqId dst, int32_t p0, int32_t p1);
  // Drops every sequence but seq.
  void seq_keep(SeqId seq);
  // Highest / lowest position of a sequence, -1 when it has none.
  int32_t seq_pos_max(SeqId seq) const;
  int32_t seq_pos_min(SeqId seq) const;
  void clear();

  // Cells visible to a token of sequence `seq` at `pos`, as ranges (appended to `out`); with a
  // `window` > 0 only those of the last `window` positions (pos - window, pos].
  void visible_ranges(SeqId seq, int32_t pos, std::vector<ops::CellRange>& out,
                      int32_t window = 0) const;

 private:
  void free_cell(size_t index);
  void recompute_extent();

  std::vector<Cell> cells_;
  int64_t used_ = 0;
  int64_t extent_ = 0;
  size_t head_ = 0;  // where the search for free cells starts
  int64_t n_layer_ = 0;
  TensorType type_k_ = TensorType::kF16;
  TensorType type_v_ = TensorType::kF16;
  uint64_t k_row_bytes_ = 0;
  uint64_t v_row_bytes_ = 0;
  backend::Buffer k_;
  backend::Buffer v_;
};

}  // namespace lathe::kv
