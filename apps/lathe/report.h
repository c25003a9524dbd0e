// What `lathe bench` and `lathe batched-bench` share: describing a model the way llama-bench
// does, the cost of a token (bytes read, ops) for the roofline columns, the machine's roofs from
// `lathe hw`, statistics, peak RSS, and plain-text tables.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor_type.h"
#include "hw/probe_kernels.h"
#include "hw/profile.h"
#include "model/model.h"

namespace lathe::backend {
class Backend;
}

namespace lathe::cli {

// ---- the model ------------------------------------------------------------------------------

// "llama 1.2B Q4_0": architecture, size from the parameter count, main weight type.
std::string model_type_label(const model::Model& model);
// llama-bench's size and params cells: "727.75 MiB", "1.24 B".
std::string size_label(uint64_t bytes);
std::string params_label(int64_t params);

// What one token costs the hardware, from the model's tensors and the KV cache's types.
struct TokenCost {
  double weight_bytes = 0;       // weights read per decode step (all but the unused embedding rows)
  double kv_bytes_per_cell = 0;  // K and V of one cell over all layers
  double layer_params = 0;       // multiply-adds per token in the layers' matrices
  double output_params = 0;      // multiply-adds of the output matrix (only rows that want logits)
  double attn_macs_per_cell = 0;  // QK and PV multiply-adds per (token, visible cell), all layers
  hw::PeakKind peak_kind = hw::PeakKind::kInt8;

  // A tg-style step: one token at context length `ctx` (cells it attends to).
  double step_ops(double ctx) const {
    return 2.0 * (layer_params + output_params) + 2.0 * attn_macs_per_cell * ctx;
  }
  // Bytes of a tg-style step at context `ctx`.
  double step_bytes(double ctx) const { return weight_bytes + kv_bytes_per_cell * ctx; }
  // Ops of processing n prompt tokens after `depth` cells, in chunks of n_batch tokens of which
  // only the last asks for logits (what llama-bench and batched-bench do).
  double prompt_ops(int64_t n, int64_t depth, int64_t n_batch) const;
};

Expected<TokenCost> token_cost(const model::Model& model, TensorType type_k, TensorType type_v);

// The instruction mix the matmuls of a weight type run: int8 dot products for quantized types
// (activations are quantized to q8), bf16 for BF16, f32 otherwise.
hw::PeakKind peak_kind_for(TensorType type);

// ---- the machine ----------------------------------------------------------------------------

struct Roofs {
  std::optional<hw::HardwareProfile> profile;
  std::string source;  // where the profile came from, for the report footer
  std::string note;    // why there is none, or what happened to the cache

  // Read bandwidth (bytes/s) reachable with `threads` threads; 0 when unknown.
  double bandwidth(int threads) const;
  // Peak ops/s of `kind` with `threads` threads; falls back to f32 when the CPU has no native
  // instruction for the kind (and says so through `used`). 0 when unknown.
  double peak(hw::PeakKind kind, int threads, hw::PeakKind* used = nullptr) const;
};

// --no-hw: none. A path: that profile file, as it is. Otherwise `lathe hw`'s cache, measured now
// (with progress on stderr) when there is none for this CPU.
Roofs load_roofs(bool disabled, const std::string& profile_path, const std::string& command);

// ---- measurements ---------------------------------------------------------------------------

double mean(const std::vector<double>& values);
// Sample standard deviation (n - 1), 0 for fewer than two values: what llama-bench prints.
double stddev(const std::vector<double>& values);

// Bytes/s of one read pass (hw::read_pass) over every matrix a generation step of `model`
// reads, as `backend` holds them (repacked copies included): the bandwidth of this moment for
// exactly those bytes, the floor a step can reach.
double weight_read_bandwidth(const model::Model& model, backend::Backend& backend);

// Peak resident set size of this process since start or the last reset (VmHWM), in bytes; 0
// when /proc is not there.
uint64_t peak_rss_bytes();
// Starts a new peak (writes 5 to /proc/self/clear_refs); false when the kernel refuses.
bool reset_peak_rss();

// "2025-06-01T12:00:00Z"
std::string utc_now();
std::string cpu_brand();

// ---- output ---------------------------------------------------------------------------------

// A markdown table printed row by row, as llama-bench does: right-aligned columns unless the
// width is negative.
struct Column {
  std::string name;
  int width;  // negative: left-aligned
};
std::string markdown_header(const std::vector<Column>& columns);
std::string markdown_row(const std::vector<Column>& columns, const std::vector<std::string>& cells);

std::string csv_escape(const std::string& value);

// printf into a std::string.
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Writes text to a file, replacing it.
Status write_text_file(const std::string& path, const std::string& text);

}  // namespace lathe::cli
