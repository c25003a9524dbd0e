// The CPU kernel table: one function per operation and tensor type, chosen once by CPUID.
//
// Every entry has a scalar reference (kernels/cpu/ref/); SIMD variants (kernels/cpu/x86/) are
// compiled once per instruction set and tested against the reference.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/tensor_type.h"
#include "ops/attention.h"
#include "ops/rope.h"

namespace lathe::kernels {

inline constexpr size_t kTypeSlots = 64;  // indexed by the TensorType id

// out[b * out_stride + r] = dot(weight row r, activation row b) (+ bias[r]) for every r in
// [row_begin, row_end) and every b in [0, n_b). Activations are already in the weight type's
// vec_dot_type. A kernel reads each weight row once for all n_b activation rows: that is what makes
// a batch of B rows cost about as much as one when the weights dominate the traffic.
struct MatmulArgs {
  const uint8_t* weights;
  uint64_t weight_row_bytes;
  int64_t k;  // elements per row
  const uint8_t* activations;
  uint64_t activation_row_bytes;
  int64_t n_b;
  float* out;
  int64_t out_stride;
  const float* bias;  // or null
};
using MatmulFn = void (*)(const MatmulArgs& args, int64_t row_begin, int64_t row_end);
using QuantizeRowFn = void (*)(const float* src, void* dst, int64_t n);
using DotFn = float (*)(int64_t n, const void* row, const void* activations);
using DequantizeRowFn = void (*)(const void* src, float* dst, int64_t n);

// Optional weight repacking for a weight type. A packed copy stores the rows in groups of
// `group_rows` (the last group padded with copies of the last row), each group laid out in the
// order the SIMD kernel reads it: per block, the scales of the group's rows side by side, then the
// quantized bytes interleaved row by row. It has exactly the file's bytes per row, so it costs
// one more copy of the weight (size(rows, k) bytes) and no more.
//
// The caller packs each weight once (pack may run on several threads, each on its own range of
// groups), then calls matmul with MatmulArgs::weights pointing at the packed copy and
// weight_row_bytes left at the file's row size. Row ranges given to that matmul must start on a
// multiple of group_rows. Results are bit-identical to the row-major kernel of the same table.
struct RepackKernels {
  int group_rows = 0;
  uint64_t (*size)(int64_t rows, uint64_t row_bytes) = nullptr;
  void (*pack)(const uint8_t* weights, uint64_t row_bytes, int64_t rows, int64_t k,
               int64_t group_begin, int64_t group_end, uint8_t* packed) = nullptr;
  MatmulFn matmul = nullptr;
  int64_t max_k = 0;  // longest row the packed matmul takes; longer rows must stay row-major

  bool usable(int64_t k) const { return pack != nullptr && k <= max_k; }
};

// Float elementwise operations (the reference is in ref/ops_ref.cpp; each SIMD variant is tested
// against it).
using RmsNormRowFn = void (*)(const float* x, const float* w, int64_t n, float eps, float* y);
using RopeHeadFn = void (*)(float* x, const float* cache, const ops::RopeParams& p);
using SwigluFn = void (*)(const float* gate, const float* up, int64_t n, float* out);
// gelu(gate) * up with gelu's tanh form, as Gemma uses it.
using GegluFn = void (*)(const float* gate, const float* up, int64_t n, float* out);
using ScaleFn = void (*)(float* x, int64_t n, float factor);
// x = cap * tanh(x / cap): Gemma's soft-capping of logits.
using SoftcapFn = void (*)(float* x, int64_t n, float cap);
using AddFn = void (*)(float* x, const float* y, int64_t n);
// y[i] = e^x[i]; the SIMD versions state their error bound (exp_avx512.h, exp_avx2.h).
using ExpFn = void (*)(const float* x, float* y, int64_t n);

// Attention works on cells in blocks of at most this many.
inline constexpr int64_t kAttentionBlockCells = 64;

// Cells per block when a work item covers `kv_heads` KV heads of head_dim values: K and V of a
// block are converted to f32 for all those heads at once, reading each cell's row front to back
// (a sequential stream the hardware prefetcher follows, unlike one head's slice of every row), so
// the block shrinks as the heads grow to keep both f32 copies near 128 KiB (L2), never below 16.
inline int64_t attention_block_cells(int64_t kv_heads, int64_t head_dim) {
  const int64_t cells = 16384 / (kv_heads * head_dim) / 16 * 16;
  return cells < 16 ? 16 : cells > kAttentionBlockCells ? kAttentionBlockCells : cells;
}

// Per-thread buffers of the attention kernels, owned by the caller (the CPU backend keeps one per
// thread) and sized with reserve() before the kernel runs, so the kernels never allocate.
struct AttentionScratch {
  // The reference kernel's buffers (ref::attention_head).
  std::vector<uint8_t> q_converted;  // one head of q in K's vec_dot type
  std::vector<float> v_row;
  std::vector<float> acc;
  std::vector<float> scores;  // plain path: one score per visible cell
  // The SIMD kernels' buffers: q, accumulators, a block of K and V as f32, and scores, one row per
  // (KV head, token, query head) of an item (see attention_block_floats).
  std::vector<float> block;
  std::vector<int64_t> cursor;       // per token of an item: its next cell range
  std::vector<uint64_t> bits;        // per token of an item: the visible cells of the current block
  std::vector<int64_t> active_rows;  // the rows whose token sees part of the current block

  // Grows every buffer to what an item of `tokens` tokens × `kv_heads` KV heads needs (rows =
  // tokens × query heads per KV head × kv_heads), with `visible` the most cells a token sees and
  // `span` the most cells between an item's first and last visible cell (the plain path keeps a
  // score per cell of the span; 0 for flash). Never shrinks.
  void reserve(int64_t head_dim, int64_t tokens, int64_t kv_heads, int64_t rows, int64_t visible,
               int64_t span);
};

// Floats of AttentionScratch::block a SIMD kernel uses: q and accumulators for `rows` rows, a block
// of K and V as f32 for `kv_heads` heads, and scores spanning `span` cells (0 for the flash path;
// a score row holds one vector more than the span, for the last block's padding lanes), each
// region rounded to 64 bytes, plus 64 bytes of slack to align the start.
inline int64_t attention_block_floats(int64_t head_dim, int64_t kv_heads, int64_t rows,
                                      int64_t span) {
  const auto pad = [](int64_t n) { return (n + 15) / 16 * 16; };
  const int64_t score_cols =
      pad(span + 16 > kAttentionBlockCells ? span + 16 : kAttentionBlockCells);
  const int64_t kv_block = kv_heads * attention_block_cells(kv_heads, head_dim) * head_dim;
  return 2 * pad(rows * head_dim) + 2 * pad(kv_block) + rows * score_cols + 2 * pad(rows) + 16;
}

struct KernelTable;

// q and out are [n_tokens, n_head, head_dim]; the mask's ranges of each token must be sorted and
// disjoint (as KvCache::visible_ranges makes them).
struct AttentionArgs {
  const float* q = nullptr;
  float* out = nullptr;
  const ops::KvLayerView* kv = nullptr;
  const ops::AttentionMask* mask = nullptr;
  const ops::AttentionParams* params = nullptr;
  const KernelTable* table = nullptr;  // q's conversion to K's dot type, dequantizers
};

// One work item: tokens [t0, t1) × KV heads [g0, g1), each with its n_head / n_head_kv query
// heads. Reading K and V once for the whole item is the point: all the query heads of a KV head,
// and several tokens of a prompt, share every cell loaded.
//
// A flash item may also take a share of the cells: only visible cells in [c0, c1) count, and with
// `partial` set it writes, per row r =
// ((g − g0)·(t1 − t0) + t − t0)·(n_head / n_head_kv) + query head, the unnormalized accumulator
// (head_dim floats), the running maximum and the running sum: head_dim + 2 floats per row, for
// ref::merge_attention_partials. That lets several threads share one token's cells (generation).
// Plain items always cover every cell.
struct AttentionItem {
  int64_t t0 = 0, t1 = 0;
  int64_t g0 = 0, g1 = 0;
  int64_t c0 = 0, c1 = INT32_MAX;
  float* partial = nullptr;
};
using AttentionFn = void (*)(const AttentionArgs& args, const AttentionItem& item,
                             AttentionScratch& scratch);

struct KernelTable {
  std::string isa = "scalar";
  std::array<RepackKernels, kTypeSlots> repack{};        // by weight type; empty: no packed layout
  std::array<MatmulFn, kTypeSlots> matmul{};             // by weight type
  std::array<QuantizeRowFn, kTypeSlots> quantize_row{};  // by activation (vec_dot) type
  std::array<DotFn, kTypeSlots> dot{};  // by weight type, activations in vec_dot_type
  std::array<DequantizeRowFn, kTypeSlots> dequantize_row{};
  std::array<TensorType, kTypeSlots> vec_dot_type{};
  AttentionFn attention = nullptr;
  RmsNormRowFn rms_norm_row = nullptr;
  RopeHeadFn rope_head = nullptr;
  SwigluFn swiglu = nullptr;
  GegluFn geglu = nullptr;
  ScaleFn scale = nullptr;
  SoftcapFn softcap = nullptr;
  AddFn add = nullptr;
  ExpFn exp = nullptr;

  MatmulFn matmul_for(TensorType t) const { return matmul[static_cast<size_t>(t)]; }
  QuantizeRowFn quantize_for(TensorType t) const { return quantize_row[static_cast<size_t>(t)]; }
  DotFn dot_for(TensorType t) const { return dot[static_cast<size_t>(t)]; }
  DequantizeRowFn dequantize_for(TensorType t) const {
    return dequantize_row[static_cast<size_t>(t)];
  }
  TensorType vec_dot_type_for(TensorType t) const { return vec_dot_type[static_cast<size_t>(t)]; }
  const RepackKernels& repack_for(TensorType t) const { return repack[static_cast<size_t>(t)]; }
};

enum class KernelLevel { kScalar, kAvx2, kAvx512, kBest };

// The scalar reference table (always available).
KernelTable reference_kernels();
// The best table this CPU runs, or a lower level when asked (for tests and comparisons).
KernelTable select_kernels(const CpuFeatures& cpu, KernelLevel level = KernelLevel::kBest);

}  // namespace lathe::kernels
