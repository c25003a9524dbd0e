#include "backend/cpu/cpu_backend.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>

namespace lathe::backend {

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
  constexpr size_t kAlign = 64;
  const size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  void* data = std::aligned_alloc(kAlign, rounded == 0 ? kAlign : rounded);
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

void CpuBackend::get_rows(const model::WeightMatrix& table, const int32_t* ids, int64_t n,
                          float* out) {
  const auto dequantize = kernels_.dequantize_for(table.type);
  parallel(n, 1, [&](int ith, int nth) {
    auto [begin, end] = ThreadPool::chunk(n, ith, nth);
    for (int64_t i = begin; i < end; ++i) dequantize(table.row(ids[i]), out + i * table.cols, table.cols);
  });
}

void CpuBackend::rms_norm(const float* x, const float* weight, int64_t rows, int64_t width,
                          float eps, float* out) {
  parallel(rows * width, 16384, [&](int ith, int nth) {
    auto [begin, end] = ThreadPool::chunk(rows, ith, nth);
    for (int64_t r = begin; r < end; ++r) {
      kernels::ref::rms_norm_row(x + r * width, weight, width, eps, out + r * width);
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
uint64_t fingerprint(const model::WeightMatrix& w) {
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

const uint8_t* CpuBackend::repacked(const model::WeightMatrix& w,
                                    const kernels::RepackKernels& rk) {
  // A weight of a known file is never read again once packed (its pages may even be released),
  // so it is found by file and offset, not by sampling its bytes.
  const RepackKey key = w.source_identity != 0
                            ? RepackKey{w.source_identity, w.source_offset, w.type, w.rows, w.cols}
                            : RepackKey{reinterpret_cast<uintptr_t>(w.data), fingerprint(w), w.type,
                                        w.rows, w.cols};
  auto it = repacked_.find(key);
  if (it != repacked_.end()) return it->second.data.get();
  const uint64_t bytes = rk.size(w.rows, w.row_bytes);
  constexpr size_t kAlign = 64;
  void* data = std::aligned_alloc(kAlign, (bytes + kAlign - 1) / kAlign * kAlign);
  if (data == nullptr) return nullptr;  // the row-major kernel still works
  auto* packed = static_cast<uint8_t*>(data);
  const int64_t groups = (w.rows + rk.group_rows - 1) / rk.group_rows;
  parallel(groups, 1, [&](int ith, int nth) {
    auto [g0, g1] = ThreadPool::chunk(groups, ith, nth);
    if (g1 > g0) {
      rk.pack(static_cast<const uint8_t*>(w.data), w.row_bytes, w.rows, w.cols, g0, g1, packed);
    }
  });
  // The packed copy replaces the mapped bytes: drop them from memory rather than holding the
  // weight twice. Anything that still reads them (get_rows of a tied embedding) pages them in.
  if (w.source_mapping != nullptr) w.source_mapping->release(w.data, w.bytes());
  repacked_bytes_ += bytes;
  repacked_.emplace(key, Repacked{{packed, &std::free}, bytes});
  return packed;
}

void CpuBackend::matmul(const model::WeightMatrix& w, const float* bias, const float* x,
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
  const model::WeightMatrix& first = *targets[0].weight;
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
    const model::WeightMatrix& w = *targets[i].weight;
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
    for (int64_t b = b0; b < b1; ++b) quantize(x + b * first.cols, acts + b * act_row_bytes, first.cols);
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
        kernels::ref::rope_head(x + (t * n_heads + h) * params.head_dim, cache.data(), params);
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
  int64_t max_visible = 0;
  for (int64_t t = 0; t < n_tokens; ++t) {
    int64_t visible = 0;
    for (int32_t r = mask.offsets[t]; r < mask.offsets[t + 1]; ++r) {
      visible += mask.ranges[r].end - mask.ranges[r].begin;
    }
    max_visible = std::max(max_visible, visible);
  }
  const int64_t d = params.head_dim;
  const int64_t gqa = params.n_head / params.n_head_kv;
  const int64_t n_items = n_tokens * params.n_head;
  parallel(n_items * max_visible * d, 8192, [&](int ith, int nth) {
    auto& scratch = attention_scratch_[static_cast<size_t>(ith)];
    const size_t d_size = static_cast<size_t>(d);
    if (scratch.acc.size() < d_size) {
      scratch.acc.resize(d_size);
      scratch.v_row.resize(d_size);
      scratch.q_converted.resize(d_size * sizeof(float));
    }
    if (!params.flash && scratch.scores.size() < static_cast<size_t>(max_visible)) {
      scratch.scores.resize(static_cast<size_t>(max_visible));
    }
    auto [begin, end] = ThreadPool::chunk(n_items, ith, nth);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = item / params.n_head;
      const int64_t h = item % params.n_head;
      const float* q_head = q + (t * params.n_head + h) * d;
      float* out_head = out + (t * params.n_head + h) * d;
      kernels::ref::attention_head(q_head, kv, h / gqa, mask.ranges + mask.offsets[t],
                                   mask.offsets[t + 1] - mask.offsets[t], params, kernels_, scratch,
                                   out_head);
    }
  });
}

void CpuBackend::swiglu(const float* gate, const float* up, int64_t n, float* out) {
  parallel(n, 16384, [&](int ith, int nth) {
    auto [begin, end] = ThreadPool::chunk(n, ith, nth);
    kernels::ref::swiglu(gate + begin, up + begin, end - begin, out + begin);
  });
}

void CpuBackend::add(float* x, const float* y, int64_t n) {
  parallel(n, 65536, [&](int ith, int nth) {
    auto [begin, end] = ThreadPool::chunk(n, ith, nth);
    kernels::ref::add(x + begin, y + begin, end - begin);
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
