#include "kv/kv_cache.h"

#include <algorithm>

namespace lathe::kv {

Expected<TensorType> parse_kv_type(std::string_view name) {
  LATHE_ASSIGN_OR_RETURN(TensorType type, parse_tensor_type(name));
  if (type != TensorType::kF16 && type != TensorType::kQ8_0 && type != TensorType::kQ4_0) {
    return invalid_argument("KV cache type '", name, "' is not supported (f16, q8_0, q4_0)");
  }
  return type;
}

Expected<KvCache> KvCache::create(const model::HParams& hp, const KvCacheOptions& options,
                                  backend::Backend& backend) {
  if (options.n_cells <= 0) return invalid_argument("context size must be positive");
  KvCache cache;
  cache.n_layer_ = hp.n_layer;
  cache.type_k_ = options.type_k;
  cache.type_v_ = options.type_v;
  // Attention reads one head at a time, so each head must be a whole number of blocks.
  for (auto [type, flag] : {std::pair{options.type_k, "-ctk"}, std::pair{options.type_v, "-ctv"}}) {
    const auto& info = tensor_type_info(type);
    if (hp.head_dim_k % info.block_elems != 0) {
      return invalid_argument(flag, " ", info.name, " needs a head size that is a multiple of ",
                              info.block_elems, "; this model's heads have ", hp.head_dim_k,
                              " values (use f16)");
    }
  }
  LATHE_ASSIGN_OR_RETURN(cache.k_row_bytes_, tensor_row_bytes(options.type_k, hp.n_embd_k()));
  LATHE_ASSIGN_OR_RETURN(cache.v_row_bytes_, tensor_row_bytes(options.type_v, hp.n_embd_v()));
  const uint64_t cells = static_cast<uint64_t>(options.n_cells);
  const uint64_t layers = static_cast<uint64_t>(hp.n_layer);
  LATHE_ASSIGN_OR_RETURN(cache.k_, backend.allocate(cache.k_row_bytes_ * cells * layers));
  LATHE_ASSIGN_OR_RETURN(cache.v_, backend.allocate(cache.v_row_bytes_ * cells * layers));
  cache.cells_.resize(static_cast<size_t>(options.n_cells));
  return cache;
}

ops::KvLayerView KvCache::layer(int64_t il) const {
  const uint64_t layer_k = k_row_bytes_ * cells_.size();
  const uint64_t layer_v = v_row_bytes_ * cells_.size();
  ops::KvLayerView view;
  view.k = static_cast<uint8_t*>(k_.data()) + static_cast<uint64_t>(il) * layer_k;
  view.v = static_cast<uint8_t*>(v_.data()) + static_cast<uint64_t>(il) * layer_v;
  view.type_k = type_k_;
  view.type_v = type_v_;
  view.k_row_bytes = k_row_bytes_;
  view.v_row_bytes = v_row_bytes_;
  return view;
}

Status KvCache::claim(std::span<const int32_t> positions, std::span<const SeqSet> seqs,
                      std::vector<int32_t>& cells_out) {
  const size_t n = positions.size();
  if (static_cast<int64_t>(n) > size() - used_) {
    return out_of_range("context is full: the batch needs ", n, " cells but only ",
                        size() - used_, " of ", size(), " are free (use a larger -c, or remove "
                        "tokens from the cache)");
  }
  // Positions must grow within each sequence, past what the cache already holds for it.
  std::vector<int32_t> last(kMaxSequences, -2);
  for (size_t i = 0; i < n; ++i) {
    if (seqs[i].none()) return invalid_argument("batch token ", i, " belongs to no sequence");
    if (positions[i] < 0) return invalid_argument("batch token ", i, " has negative position");
    for (int s = 0; s < kMaxSequences; ++s) {
      if (!seqs[i].test(static_cast<size_t>(s))) continue;
      if (last[static_cast<size_t>(s)] == -2) last[static_cast<size_t>(s)] = seq_pos_max(s);
      if (positions[i] <= last[static_cast<size_t>(s)]) {
        return invalid_argument("sequence ", s, " already has position ",
                                last[static_cast<size_t>(s)], ", so batch token ", i,
                                " cannot take position ", positions[i],
                                " (remove the later positions first)");
      }
      last[static_cast<size_t>(s)] = positions[i];
    }
  }

  cells_out.resize(n);
  // Prefer a contiguous run from the head: attention then sees few ranges.
  size_t found = 0;
  size_t index = head_ < cells_.size() ? head_ : 0;
  for (size_t scanned = 0; found < n && scanned < cells_.size(); ++scanned) {
    if (cells_[index].empty()) cells_out[found++] = static_cast<int32_t>(index);
    index = (index + 1) % cells_.size();
  }
  for (size_t i = 0; i < n; ++i) {
    Cell& cell = cells_[static_cast<size_t>(cells_out[i])];
    cell.pos = positions[i];
    cell.seqs = seqs[i];
    extent_ = std::max<int64_t>(extent_, cells_out[i] + 1);
  }
  used_ += static_cast<int64_t>(n);
  head_ = n > 0 ? (static_cast<size_t>(cells_out[n - 1]) + 1) % cells_.size() : head_;
  return Status();
}

void KvCache::free_cell(size_t index) {
  cells_[index].pos = -1;
  cells_[index].seqs.reset();
  --used_;
  if (index < head_) head_ = index;
}

void KvCache::recompute_extent() {
  extent_ = 0;
  for (size_t i = cells_.size(); i > 0; --i) {
    if (!cells_[i - 1].empty()) {
      extent_ = static_cast<int64_t>(i);
      break;
    }
  }
}

void KvCache::seq_rm(SeqId seq, int32_t p0, int32_t p1) {
  if (p0 < 0) p0 = 0;
  for (size_t i = 0; i < cells_.size(); ++i) {
    Cell& cell = cells_[i];
    if (cell.empty() || cell.pos < p0 || (p1 >= 0 && cell.pos >= p1)) continue;
    if (seq < 0) {
      free_cell(i);
    } else if (seq < kMaxSequences && cell.seqs.test(static_cast<size_t>(seq))) {
      cell.seqs.reset(static_cast<size_t>(seq));
      if (cell.seqs.none()) free_cell(i);
    }
  }
  recompute_extent();
}

void KvCache::seq_cp(SeqId src, SeqId dst, int32_t p0, int32_t p1) {
  if (src == dst || src < 0 || dst < 0 || src >= kMaxSequences || dst >= kMaxSequences) return;
  if (p0 < 0) p0 = 0;
  for (Cell& cell : cells_) {
    if (cell.empty() || cell.pos < p0 || (p1 >= 0 && cell.pos >= p1)) continue;
    if (cell.seqs.test(static_cast<size_t>(src))) cell.seqs.set(static_cast<size_t>(dst));
  }
}

void KvCache::seq_keep(SeqId seq) {
  for (size_t i = 0; i < cells_.size(); ++i) {
    Cell& cell = cells_[i];
    if (cell.empty()) continue;
    if (seq >= 0 && seq < kMaxSequences && cell.seqs.test(static_cast<size_t>(seq))) {
      cell.seqs.reset();
      cell.seqs.set(static_cast<size_t>(seq));
    } else {
      free_cell(i);
    }
  }
  recompute_extent();
}

int32_t KvCache::seq_pos_max(SeqId seq) const {
  int32_t result = -1;
  if (seq < 0 || seq >= kMaxSequences) return result;
  for (int64_t i = 0; i < extent_; ++i) {
    const Cell& cell = cells_[static_cast<size_t>(i)];
    if (!cell.empty() && cell.seqs.test(static_cast<size_t>(seq))) result = std::max(result, cell.pos);
  }
  return result;
}

int32_t KvCache::seq_pos_min(SeqId seq) const {
  int32_t result = -1;
  if (seq < 0 || seq >= kMaxSequences) return result;
  for (int64_t i = 0; i < extent_; ++i) {
    const Cell& cell = cells_[static_cast<size_t>(i)];
    if (!cell.empty() && cell.seqs.test(static_cast<size_t>(seq)) && (result < 0 || cell.pos < result)) {
      result = cell.pos;
    }
  }
  return result;
}

void KvCache::clear() {
  for (Cell& cell : cells_) {
    cell.pos = -1;
    cell.seqs.reset();
  }
  used_ = 0;
  extent_ = 0;
  head_ = 0;
}

void KvCache::visible_ranges(SeqId seq, int32_t pos, std::vector<ops::CellRange>& out,
                             int32_t window) const {
  const int64_t oldest = window > 0 ? int64_t{pos} - window + 1 : INT64_MIN;
  int32_t start = -1;
  for (int64_t i = 0; i < extent_; ++i) {
    const Cell& cell = cells_[static_cast<size_t>(i)];
    const bool visible = !cell.empty() && cell.pos <= pos && cell.pos >= oldest &&
                         cell.seqs.test(static_cast<size_t>(seq));
    if (visible && start < 0) start = static_cast<int32_t>(i);
    if (!visible && start >= 0) {
      out.push_back({start, static_cast<int32_t>(i)});
      start = -1;
    }
  }
  if (start >= 0) out.push_back({start, static_cast<int32_t>(extent_)});
}

}  // namespace lathe::kv
