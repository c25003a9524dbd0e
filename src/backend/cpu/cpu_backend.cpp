#include "backend/cpu/cpu_backend.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "hw/probe_kernels.h"
#include "hw/probes.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace lathe::backend {

namespace {

constexpr size_t kHugePage = size_t{2} << 20;

// `bytes` on a 64-byte boundary or, from one 2 MiB page up, 2 MiB-aligned and advised
// MADV_HUGEPAGE (a hint; the kernel may refuse it): over the whole rounded size when `advise_tail`,
// else over the whole huge pages inside `bytes` only. Null when the allocation fails.
void* allocate_aligned(size_t bytes, bool advise_tail) {
  const size_t align = bytes >= kHugePage ? kHugePage : 64;
  const size_t rounded = std::max(align, (bytes + align - 1) / align * align);
  void* data = std::aligned_alloc(align, rounded);
#if defined(__linux__)
  if (data != nullptr && align == kHugePage) {
    (void)madvise(data, advise_tail ? rounded : bytes / kHugePage * kHugePage, MADV_HUGEPAGE);
  }
#endif
  return data;
}

}  // namespace

CpuBackend::CpuBackend(const CpuBackendOptions& options)
    : cpu_(CpuFeatures::detect()),
      kernels_(kernels::select_kernels(cpu_, options.kernel_level)),
      repack_weights_(options.repack_weights),
      pool_(options.n_threads > 0 ? options.n_threads : default_thread_count()),
      attention_scratch_(static_cast<size_t>(pool_.size())),
      rope_scratch_(static_cast<size_t>(pool_.size())) {}

std::string CpuBackend::description() const {
  return cat("CPU (", kernels_.isa, " kernels, ", pool_.size(), " threads)");
}

Expected<Buffer> CpuBackend::allocate(size_t bytes) {
  // Large buffers (the KV cache above all) go on 2 MiB pages where the kernel offers them: a
  // 4096-cell cache of a 1B model is 8 MiB per layer, far beyond what 4 KiB TLB entries cover, and
  // attention streams it every token (measured: f16 decode attention 1.7x faster at 4096 cells).
  void* data = allocate_aligned(bytes, /*advise_tail=*/true);
  if (data == nullptr) return resource_exhausted("cannot allocate ", bytes, " bytes");
  return Buffer(data, bytes, [](void* p) { std::free(p); });
}

template <typename Job>
void CpuBackend::parallel(int64_t work_items, int64_t min_items_per_thread, Job&& job) {
  if (pool_.size() == 1 || work_items < 2 * min_items_per_thread) {
    job(0, 1);
    return;
  }
  pool_.run(job);
}

uint8_t* CpuBackend::activation_scratch(size_t bytes) {
  // Grows to the largest matmul seen and then stays: no allocation in steady state.
  if (activation_scratch_.size() < bytes) activation_scratch_.resize(bytes);
  return activation_scratch_.data();
}

void CpuBackend::get_rows(const ops::WeightMatrix& table, const int32_t* ids, int64_t n,
                          float* out) {
  const auto dequantize = kernels_.dequantize_for(table.type);
  // Rows of a mapped file are read with pread (MappedFile::read), not through the mapping: the
  // table's pages were released when it was repacked (a tied output matrix), or were never needed
  // (an untied one), and a lookup through the mapping would bring back a whole fault-around window
  // per row, up to the table's size over a long generation.
  const MappedFile* file = table.source_mapping;
  const size_t slot = (table.row_bytes + 63) / 64 * 64;
  if (file != nullptr && row_scratch_.size() < slot * static_cast<size_t>(n_threads())) {
    row_scratch_.resize(slot * static_cast<size_t>(n_threads()));
  }
  parallel(n, 1, [&](int ith, int nth) {
    auto [begin, end] = ThreadPool::chunk(n, ith, nth);
    for (int64_t i = begin; i < end; ++i) {
      const uint8_t* row = table.row(ids[i]);
      if (file != nullptr) {
        uint8_t* copy = row_scratch_.data() + static_cast<size_t>(ith) * slot;
        const uint64_t offset =
            table.source_offset + static_cast<uint64_t>(ids[i]) * table.row_bytes;
        // On a read error the mapping still has the bytes.
        if (file->read(offset, copy, table.row_bytes).ok()) row = copy;
      }
      dequantize(row, out + i * table.cols, table.cols);
    }
  });
}

void CpuBackend::rms_norm(const float* x, const float* weight, int64_t rows, int64_t width,
                          float eps, float* out) {
  parallel(rows * width, 16384, [&](int ith, int nth) {
    auto [begin, end] = ThreadPool::chunk(rows, ith, nth);
    for (int64_t r = begin; r < end; ++r) {
      kernels_.rms_norm_row(x + r * width, weight, width, eps, out + r * width);
    }
  });
}

namespace {

// Rows per thread in whole groups, so that each thread starts on a group of the packed layout (and
// of the row-major kernels' 16-row tiles).
constexpr int64_t kRowAlign = 16;

std::pair<int64_t, int64_t> row_chunk(int64_t rows, int ith, int nth) {
  const int64_t groups = (rows + kRowAlign - 1) / kRowAlign;
  auto [g0, g1] = ThreadPool::chunk(groups, ith, nth);
  return {std::min(rows, g0 * kRowAlign), std::min(rows, g1 * kRowAlign)};
}

// A hash of 16 words spread over the weight: it runs on every matmul, so it reads 128 bytes, enough
// to tell two models' weights apart.
uint64_t fingerprint(const ops::WeightMatrix& w) {
  const auto* p = static_cast<const uint8_t*>(w.data);
  const uint64_t total = w.bytes();
  uint64_t h = 1469598103934665603ull;
  if (total < sizeof(uint64_t)) return h;
  constexpr int kSamples = 16;
  for (int i = 0; i < kSamples; ++i) {
    uint64_t word;
    std::memcpy(&word, p + (total - sizeof(word)) / (kSamples - 1) * i, sizeof(word));
    h = (h ^ word) * 1099511628211ull;
  }
  return h;
}

}  // namespace

void CpuBackend::clear_repacked() {
  repacked_.clear();
  repacked_bytes_ = 0;
}

CpuBackend::RepackKey CpuBackend::repack_key(const ops::WeightMatrix& w) {
  // A weight of a known file is never read again once packed (its pages may even be released),
  // so it is found by file and offset, not by sampling its bytes.
  return w.source_identity != 0
             ? RepackKey{w.source_identity, w.source_offset, w.type, w.rows, w.cols}
             : RepackKey{reinterpret_cast<uintptr_t>(w.data), fingerprint(w), w.type, w.rows,
                         w.cols};
}

std::span<const uint8_t> CpuBackend::matmul_weight_bytes(const ops::WeightMatrix& w) const {
  auto it = repacked_.find(repack_key(w));
  if (it != repacked_.end()) return {it->second.data.get(), it->second.bytes};
  return {static_cast<const uint8_t*>(w.data), w.bytes()};
}

const uint8_t* CpuBackend::repacked(const ops::WeightMatrix& w, const kernels::RepackKernels& rk) {
  const RepackKey key = repack_key(w);
  auto it = repacked_.find(key);
  if (it != repacked_.end()) return it->second.data.get();
  const uint64_t bytes = rk.size(w.rows, w.row_bytes);
  // On 2 MiB pages where the kernel offers them: packing faults in every page of the copy (a
  // 3 GB F16 model is 730k pages of 4 KiB), and generation streams the copy every token. Only the
  // whole huge pages inside the copy are advised, so a small matrix does not grow to 2 MiB.
  void* data = allocate_aligned(bytes, /*advise_tail=*/false);
  if (data == nullptr) return nullptr;  // the row-major kernel still works
  auto* packed = static_cast<uint8_t*>(data);
  const int64_t groups = (w.rows + rk.group_rows - 1) / rk.group_rows;
  // The packed copy replaces the mapped bytes: drop them from memory rather than holding the
  // weight twice. Anything that still reads them (get_rows of a tied embedding) pages them in.
  // Slices of about 16 MiB are packed and released in turn, so that even a large output matrix
  // (215 MB for a 128k vocabulary in Q6_K) is never resident twice.
  constexpr uint64_t kSliceBytes = uint64_t{16} << 20;
  const uint64_t group_bytes = static_cast<uint64_t>(rk.group_rows) * w.row_bytes;
  const int64_t slice_groups =
      std::max<int64_t>(1, static_cast<int64_t>(kSliceBytes / std::max<uint64_t>(group_bytes, 1)));
  const auto* source = static_cast<const uint8_t*>(w.data);
  for (int64_t s0 = 0; s0 < groups; s0 += slice_groups) {
    const int64_t s1 = std::min(groups, s0 + slice_groups);
    parallel(s1 - s0, 1, [&](int ith, int nth) {
      auto [g0, g1] = ThreadPool::chunk(s1 - s0, ith, nth);
      if (g1 > g0) rk.pack(source, w.row_bytes, w.rows, w.cols, s0 + g0, s0 + g1, packed);
    });
    if (w.source_mapping != nullptr) {
      const int64_t r0 = s0 * rk.group_rows;
      const int64_t r1 = std::min<int64_t>(w.rows, s1 * rk.group_rows);
      w.source_mapping->release(source + static_cast<uint64_t>(r0) * w.row_bytes,
                                static_cast<uint64_t>(r1 - r0) * w.row_bytes);
    }
  }
  // The slices' boundary pages, shared by two slices, were kept until both were packed.
  if (w.source_mapping != nullptr) w.source_mapping->release(w.data, w.bytes());
  repacked_bytes_ += bytes;
  repacked_.emplace(key, Repacked{{packed, &std::free}, bytes});
  return packed;
}

void CpuBackend::matmul(const ops::WeightMatrix& w, const float* bias, const float* x,
                        int64_t n_rows, float* out) {
  const TensorType act_type = kernels_.vec_dot_type_for(w.type);
  const auto quantize = kernels_.quantize_for(act_type);
  auto kernel = kernels_.matmul_for(w.type);
  const auto* weights = static_cast<const uint8_t*>(w.data);
  const kernels::RepackKernels& rk = kernels_.repack_for(w.type);
  if (repack_weights_ && rk.usable(w.cols) && kRowAlign % rk.group_rows == 0) {
    if (const uint8_t* packed = repacked(w, rk)) {
      weights = packed;
      kernel = rk.matmul;
    }
  }
  const auto& act_info = tensor_type_info(act_type);
  const uint64_t act_row_bytes =
      static_cast<uint64_t>(w.cols) / act_info.block_elems * act_info.block_bytes;
  uint8_t* acts = activation_scratch(act_row_bytes * static_cast<uint64_t>(n_rows));

  kernels::MatmulArgs args{weights, w.row_bytes, w.cols, acts, act_row_bytes,
                           n_rows,  out,         w.rows, bias};
  // Activations are converted once per matmul, then every thread takes a share of weight rows.
  parallel(w.rows * w.cols * n_rows, 32768, [&](int ith, int nth) {
    auto [b0, b1] = ThreadPool::chunk(n_rows, ith, nth);
    for (int64_t b = b0; b < b1; ++b) quantize(x + b * w.cols, acts + b * act_row_bytes, w.cols);
    if (nth > 1) pool_.barrier();
    auto [r0, r1] = row_chunk(w.rows, ith, nth);
    if (r1 > r0) kernel(args, r0, r1);
  });
}

void CpuBackend::matmul_group(std::span<const MatmulTarget> targets, const float* x,
                              int64_t n_rows) {
  constexpr size_t kMaxTargets = 4;
  if (targets.empty()) return;
  const ops::WeightMatrix& first = *targets[0].weight;
  const TensorType act_type = kernels_.vec_dot_type_for(first.type);
  bool shared_input = targets.size() <= kMaxTargets;
  for (const MatmulTarget& t : targets) {
    shared_input = shared_input && t.weight->cols == first.cols &&
                   kernels_.vec_dot_type_for(t.weight->type) == act_type;
  }
  if (!shared_input) {
    Backend::matmul_group(targets, x, n_rows);
    return;
  }
  const auto quantize = kernels_.quantize_for(act_type);
  const auto& act_info = tensor_type_info(act_type);
  const uint64_t act_row_bytes =
      static_cast<uint64_t>(first.cols) / act_info.block_elems * act_info.block_bytes;
  uint8_t* acts = activation_scratch(act_row_bytes * static_cast<uint64_t>(n_rows));

  // Each target's kernel and arguments, and where its 16-row groups start in the concatenation.
  struct Part {
    kernels::MatmulFn kernel;
    kernels::MatmulArgs args;
    int64_t rows;
    int64_t first_group;
  };
  std::array<Part, kMaxTargets> parts{};
  int64_t total_groups = 0;
  int64_t work = 0;
  for (size_t i = 0; i < targets.size(); ++i) {
    const ops::WeightMatrix& w = *targets[i].weight;
    kernels::MatmulFn kernel = kernels_.matmul_for(w.type);
    const auto* weights = static_cast<const uint8_t*>(w.data);
    const kernels::RepackKernels& rk = kernels_.repack_for(w.type);
    if (repack_weights_ && rk.usable(w.cols) && kRowAlign % rk.group_rows == 0) {
      if (const uint8_t* packed = repacked(w, rk)) {
        weights = packed;
        kernel = rk.matmul;
      }
    }
    parts[i] = {kernel,
                {weights, w.row_bytes, w.cols, acts, act_row_bytes, n_rows, targets[i].out, w.rows,
                 targets[i].bias},
                w.rows,
                total_groups};
    total_groups += (w.rows + kRowAlign - 1) / kRowAlign;
    work += w.rows * w.cols * n_rows;
  }

  // The input is converted once for all targets, then threads share the groups of all of them.
  parallel(work, 32768, [&](int ith, int nth) {
    auto [b0, b1] = ThreadPool::chunk(n_rows, ith, nth);
    for (int64_t b = b0; b < b1; ++b)
      quantize(x + b * first.cols, acts + b * act_row_bytes, first.cols);
    if (nth > 1) pool_.barrier();
    auto [g0, g1] = ThreadPool::chunk(total_groups, ith, nth);
    for (size_t i = 0; i < targets.size(); ++i) {
      const Part& part = parts[i];
      const int64_t groups = (part.rows + kRowAlign - 1) / kRowAlign;
      const int64_t lo = std::max(g0, part.first_group);
      const int64_t hi = std::min(g1, part.first_group + groups);
      if (lo >= hi) continue;
      const int64_t r0 = std::min(part.rows, (lo - part.first_group) * kRowAlign);
      const int64_t r1 = std::min(part.rows, (hi - part.first_group) * kRowAlign);
      if (r1 > r0) part.kernel(part.args, r0, r1);
    }
  });
}

void CpuBackend::rope(float* x, int64_t n_tokens, int64_t n_heads, const int32_t* positions,
                      const RopeParams& params) {
  parallel(n_tokens * n_heads * params.head_dim, 16384, [&](int ith, int nth) {
    auto& cache = rope_scratch_[static_cast<size_t>(ith)];
    if (cache.size() < static_cast<size_t>(params.n_rot))
      cache.resize(static_cast<size_t>(params.n_rot));
    auto [begin, end] = ThreadPool::chunk(n_tokens, ith, nth);
    for (int64_t t = begin; t < end; ++t) {
      kernels::ref::rope_cache(static_cast<float>(positions[t]), params, cache.data());
      for (int64_t h = 0; h < n_heads; ++h) {
        kernels_.rope_head(x + (t * n_heads + h) * params.head_dim, cache.data(), params);
      }
    }
  });
}

void CpuBackend::store_kv(const float* k, const float* v, int64_t n_tokens, const int32_t* cells,
                          const KvLayerView& kv, int64_t n_embd_k, int64_t n_embd_v) {
  const auto quantize_k = kernels_.quantize_for(kv.type_k);
  const auto quantize_v = kernels_.quantize_for(kv.type_v);
  parallel(n_tokens * (n_embd_k + n_embd_v), 16384, [&](int ith, int nth) {
    auto [begin, end] = ThreadPool::chunk(n_tokens, ith, nth);
    for (int64_t t = begin; t < end; ++t) {
      const uint64_t cell = static_cast<uint64_t>(cells[t]);
      quantize_k(k + t * n_embd_k, static_cast<uint8_t*>(kv.k) + cell * kv.k_row_bytes, n_embd_k);
      quantize_v(v + t * n_embd_v, static_cast<uint8_t*>(kv.v) + cell * kv.v_row_bytes, n_embd_v);
    }
  });
}

void CpuBackend::attention(const float* q, const KvLayerView& kv, const AttentionMask& mask,
                           int64_t n_tokens, const AttentionParams& params, float* out) {
  const int64_t d = params.head_dim;
  const int64_t gqa = params.n_head / params.n_head_kv;
  const int nth = pool_.size();
  // A work item is a tile of tokens × KV heads: the kernel converts each block of K and V once for
  // all the item's rows. Flash items take every KV head, so each block is read as whole cell rows,
  // front to back (a head's slice alone is a strided stream that reaches half the bandwidth).
  // Plain items take one KV head: they cannot split cells, so heads are what the threads share.
  // About 16 rows per KV head keeps an item's buffers in L2 and leaves prompts hundreds of items.
  constexpr int64_t kTileRows = 16;
  const int64_t heads_per_item = params.flash ? params.n_head_kv : 1;
  const int64_t n_groups = params.n_head_kv / heads_per_item;
  const int64_t tile_tokens = std::max<int64_t>(1, std::min(n_tokens, kTileRows / gqa));
  const int64_t n_tiles = (n_tokens + tile_tokens - 1) / tile_tokens;
  const int64_t rows = tile_tokens * gqa * heads_per_item;

  // One pass over the mask: the most cells a token sees, the widest span of cells a tile covers
  // (the plain path keeps a score per cell of it), and whether every token's ranges are sorted
  // and disjoint, which the SIMD kernels rely on to walk them (the reference does not).
  int64_t max_visible = 0;
  int64_t max_span = 0;
  int64_t lo_all = std::numeric_limits<int64_t>::max(), hi_all = 0;
  bool ordered = true;
  if (mask.token_bounds != nullptr) {
    // Summarized by the caller: only the tiles' spans are left to work out, from each token's
    // bounds.
    max_visible = mask.max_visible;
    ordered = mask.sorted;
    for (int64_t tile = 0; tile < n_tiles; ++tile) {
      int64_t lo = std::numeric_limits<int64_t>::max(), hi = 0;
      for (int64_t t = tile * tile_tokens; t < std::min(n_tokens, (tile + 1) * tile_tokens); ++t) {
        if (mask.offsets[t] == mask.offsets[t + 1]) continue;
        lo = std::min<int64_t>(lo, mask.token_bounds[t].begin);
        hi = std::max<int64_t>(hi, mask.token_bounds[t].end);
      }
      max_span = std::max(max_span, hi - lo);
      lo_all = std::min(lo_all, lo);
      hi_all = std::max(hi_all, hi);
    }
  }
  for (int64_t tile = 0; mask.token_bounds == nullptr && tile < n_tiles; ++tile) {
    int64_t lo = std::numeric_limits<int64_t>::max(), hi = 0;
    for (int64_t t = tile * tile_tokens; t < std::min(n_tokens, (tile + 1) * tile_tokens); ++t) {
      int64_t visible = 0;
      for (int32_t r = mask.offsets[t]; r < mask.offsets[t + 1]; ++r) {
        const CellRange range = mask.ranges[r];
        visible += range.end - range.begin;
        if (range.end < range.begin ||
            (r > mask.offsets[t] && range.begin < mask.ranges[r - 1].end))
          ordered = false;
        lo = std::min<int64_t>(lo, range.begin);
        hi = std::max<int64_t>(hi, range.end);
      }
      max_visible = std::max(max_visible, visible);
    }
    max_span = std::max(max_span, hi - lo);
    lo_all = std::min(lo_all, lo);
    hi_all = std::max(hi_all, hi);
  }
  const kernels::AttentionFn kernel = ordered ? kernels_.attention : &kernels::ref::attention_item;

  // Too few items for the threads (generation, small batches): flash items also split the cells
  // into shares of at least kMinShare cells, a few per thread so that a preempted thread delays
  // the step by a share, not by half of it; the shares' partial results are merged at the end.
  constexpr int64_t kMinShare = 256;
  int64_t n_shares = 1;
  if (params.flash && nth > 1 && n_tiles * n_groups < 2 * nth && hi_all > lo_all) {
    n_shares = std::clamp<int64_t>((hi_all - lo_all) / kMinShare, 1, 4 * nth);
  }
  const int64_t n_items = n_tiles * n_groups * n_shares;
  const int64_t part_floats = rows * (d + 2);
  if (n_shares > 1) {
    const auto need = static_cast<size_t>(n_items * part_floats);
    if (attention_partials_.size() < need) attention_partials_.resize(need);
  }

  const kernels::AttentionArgs args{q, out, &kv, &mask, &params, &kernels_};
  const auto item_at = [&](int64_t i) {
    // Shares innermost, then KV head groups, then tiles from the last: a prompt's later tokens see
    // the most cells, and handing the heaviest items out first lets the threads finish together.
    const int64_t share = i % n_shares;
    const int64_t group = i / n_shares % n_groups;
    const int64_t tile = n_tiles - 1 - i / (n_shares * n_groups);
    kernels::AttentionItem item;
    item.t0 = tile * tile_tokens;
    item.t1 = std::min(n_tokens, item.t0 + tile_tokens);
    item.g0 = group * heads_per_item;
    item.g1 = item.g0 + heads_per_item;
    if (n_shares > 1) {
      item.c0 = lo_all + (hi_all - lo_all) * share / n_shares;
      item.c1 = lo_all + (hi_all - lo_all) * (share + 1) / n_shares;
      item.partial = attention_partials_.data() + i * part_floats;
    }
    return item;
  };
  std::atomic<int64_t> next_item{0};
  parallel(n_tokens * params.n_head * max_visible * d, 8192, [&](int ith, int nth_run) {
    auto& scratch = attention_scratch_[static_cast<size_t>(ith)];
    scratch.reserve(d, tile_tokens, heads_per_item, rows, max_visible, params.flash ? 0 : max_span);
    // Items go out one at a time, so a thread that was preempted takes fewer.
    for (int64_t i = next_item.fetch_add(1, std::memory_order_relaxed); i < n_items;
         i = next_item.fetch_add(1, std::memory_order_relaxed)) {
      kernel(args, item_at(i), scratch);
    }
    if (n_shares == 1) return;
    if (nth_run > 1) pool_.barrier();
    auto [m0, m1] = ThreadPool::chunk(n_tiles * n_groups, ith, nth_run);
    for (int64_t m = m0; m < m1; ++m) {
      const int64_t first = m * n_shares;  // the item of share 0
      kernels::ref::merge_attention_partials(args, item_at(first),
                                             attention_partials_.data() + first * part_floats,
                                             part_floats, n_shares);
    }
  });
}

void CpuBackend::glu(ops::Activation act, const float* gate, const float* up, int64_t n,
                     float* out) {
  const kernels::SwigluFn kernel =
      act == ops::Activation::kSwiGLU ? kernels_.swiglu : kernels_.geglu;
  parallel(n, 16384, [&](int ith, int nth) {
    auto [begin, end] = ThreadPool::chunk(n, ith, nth);
    kernel(gate + begin, up + begin, end - begin, out + begin);
  });
}

void CpuBackend::scale(float* x, int64_t n, float factor) {
  parallel(n, 65536, [&](int ith, int nth) {
    auto [begin, end] = ThreadPool::chunk(n, ith, nth);
    kernels_.scale(x + begin, end - begin, factor);
  });
}

void CpuBackend::softcap(float* x, int64_t n, float cap) {
  parallel(n, 16384, [&](int ith, int nth) {
    auto [begin, end] = ThreadPool::chunk(n, ith, nth);
    kernels_.softcap(x + begin, end - begin, cap);
  });
}

void CpuBackend::split_columns(const float* x, int64_t rows, std::span<const int64_t> widths,
                               std::span<float* const> outs) {
  int64_t width = 0;
  for (int64_t w : widths) width += w;
  for (int64_t r = 0; r < rows; ++r) {
    int64_t offset = 0;
    for (size_t j = 0; j < widths.size(); ++j) {
      std::memcpy(outs[j] + r * widths[j], x + r * width + offset,
                  static_cast<size_t>(widths[j]) * sizeof(float));
      offset += widths[j];
    }
  }
}

Expected<double> CpuBackend::weight_read_bandwidth(std::span<const WeightMatrix* const> weights) {
  std::vector<std::span<const uint8_t>> regions;
  regions.reserve(weights.size());
  for (const WeightMatrix* w : weights) regions.push_back(matmul_weight_bytes(*w));
  const hw::ReadPassResult pass = hw::read_pass(hw::best_read_kernel(cpu_), regions, pool_);
  if (!(pass.seconds > 0)) return internal_error("the read pass took no time");
  return static_cast<double>(pass.bytes) / pass.seconds;
}

void CpuBackend::add(float* x, const float* y, int64_t n) {
  parallel(n, 65536, [&](int ith, int nth) {
    auto [begin, end] = ThreadPool::chunk(n, ith, nth);
    kernels_.add(x + begin, y + begin, end - begin);
  });
}

void CpuBackend::gather_rows(const float* x, int64_t width, const int32_t* rows, int64_t n,
                             float* out) {
  for (int64_t i = 0; i < n; ++i) {
    if (out + i * width != x + rows[i] * width) {
      std::memmove(out + i * width, x + rows[i] * width,
                   static_cast<size_t>(width) * sizeof(float));
    }
  }
}

void CpuBackend::to_host(const float* src, int64_t n, float* dst) {
  if (src != dst) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

}  // namespace lathe::backend
