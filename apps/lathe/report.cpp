#include "report.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <span>

#include "backend/backend.h"
#include "core/cpu_features.h"
#include "hw/probes.h"

namespace lathe::cli {

// ---- the model ------------------------------------------------------------------------------

std::string size_label(uint64_t bytes) {
  if (bytes < (uint64_t{1} << 30))
    return format("%.2f MiB", static_cast<double>(bytes) / (1 << 20));
  return format("%.2f GiB", static_cast<double>(bytes) / (1 << 30));
}

std::string params_label(int64_t params) {
  if (params < 1000 * 1000 * 1000) return format("%.2f M", static_cast<double>(params) / 1e6);
  return format("%.2f B", static_cast<double>(params) / 1e9);
}

std::string model_type_label(const model::Model& model) {
  const double params = static_cast<double>(model.parameter_count());
  std::string size;
  if (params >= 1e9) {
    size = format("%.1fB", params / 1e9);
  } else if (params >= 1e7) {
    size = format("%.0fM", params / 1e6);
  } else {
    size = format("%.1fM", params / 1e6);
  }
  return model.hparams().architecture + " " + size + " " + model.weight_type_summary();
}

hw::PeakKind peak_kind_for(TensorType type) {
  switch (type) {
    case TensorType::kF32:
    case TensorType::kF16:
      return hw::PeakKind::kF32;
    case TensorType::kBF16:
      return hw::PeakKind::kBf16;
    default:
      return hw::PeakKind::kInt8;
  }
}

double TokenCost::prompt_ops(int64_t n, int64_t depth, int64_t n_batch) const {
  if (n <= 0) return 0;
  const int64_t chunks = (n + std::max<int64_t>(n_batch, 1) - 1) / std::max<int64_t>(n_batch, 1);
  // Token at position p attends to p + 1 cells: the sum over p = depth .. depth + n - 1.
  const double cells = static_cast<double>(n) * static_cast<double>(depth) +
                       static_cast<double>(n) * static_cast<double>(n + 1) / 2.0;
  return 2.0 * layer_params * static_cast<double>(n) +
         2.0 * output_params * static_cast<double>(chunks) + 2.0 * attn_macs_per_cell * cells;
}

Expected<TokenCost> token_cost(const model::Model& model, TensorType type_k, TensorType type_v) {
  const model::HParams& hp = model.hparams();
  TokenCost cost;
  cost.weight_bytes = static_cast<double>(model.bytes_read_per_token());
  LATHE_ASSIGN_OR_RETURN(const uint64_t k_row,
                         tensor_row_bytes(type_k, static_cast<uint64_t>(hp.n_embd_k())));
  LATHE_ASSIGN_OR_RETURN(const uint64_t v_row,
                         tensor_row_bytes(type_v, static_cast<uint64_t>(hp.n_embd_v())));
  cost.kv_bytes_per_cell = static_cast<double>(hp.n_layer) * static_cast<double>(k_row + v_row);
  std::map<TensorType, double> params_by_type;
  for (const model::LayerWeights& L : model.layers()) {
    for (const model::Linear* lin : L.linears()) {
      const double n =
          static_cast<double>(lin->weight.rows) * static_cast<double>(lin->weight.cols);
      cost.layer_params += n;
      params_by_type[lin->weight.type] += n;
    }
  }
  const ops::WeightMatrix& out = model.output();
  cost.output_params = static_cast<double>(out.rows) * static_cast<double>(out.cols);
  params_by_type[out.type] += cost.output_params;
  // QK^T: head_dim_k per cell per head; PV: head_dim_v per cell per head.
  cost.attn_macs_per_cell = static_cast<double>(hp.n_layer) * static_cast<double>(hp.n_head) *
                            static_cast<double>(hp.head_dim_k + hp.head_dim_v);
  // The mix of the type that does most of the multiply-adds.
  auto main = std::max_element(params_by_type.begin(), params_by_type.end(),
                               [](const auto& a, const auto& b) { return a.second < b.second; });
  if (main != params_by_type.end()) cost.peak_kind = peak_kind_for(main->first);
  return cost;
}

// ---- the machine ----------------------------------------------------------------------------

double Roofs::bandwidth(int threads) const {
  if (!profile) return 0;
  auto bw = profile->best_bandwidth(threads);
  return bw ? *bw : 0;
}

double Roofs::peak(hw::PeakKind kind, int threads, hw::PeakKind* used) const {
  if (used != nullptr) *used = kind;
  if (!profile) return 0;
  if (auto p = profile->peak(kind, threads)) return *p;
  // No native instruction for the kind (bf16 without AVX512_BF16): the kernels then convert
  // to f32, so the f32 roof is the one they run against.
  if (used != nullptr) *used = hw::PeakKind::kF32;
  auto p = profile->peak(hw::PeakKind::kF32, threads);
  return p ? *p : 0;
}

Roofs load_roofs(bool disabled, const std::string& profile_path, const std::string& command) {
  Roofs roofs;
  if (disabled) {
    roofs.note = "--no-hw: no roofline columns";
    return roofs;
  }
  if (!profile_path.empty()) {
    auto loaded = hw::load_profile(profile_path);
    if (!loaded) {
      roofs.note = cat("cannot use --hw-profile: ", loaded.error().message());
      return roofs;
    }
    roofs.profile = std::move(*loaded);
    roofs.source = profile_path;
    return roofs;
  }
  hw::LoadOptions options;
  options.measure.progress = [&command](std::string_view line) {
    std::fprintf(stderr, "lathe %s: measuring roofs: %.*s\n", command.c_str(),
                 static_cast<int>(line.size()), line.data());
  };
  auto loaded = hw::load_or_measure(options);
  if (!loaded) {
    roofs.note = cat("no hardware profile (", loaded.error().message(), ")");
    return roofs;
  }
  roofs.profile = std::move(loaded->profile);
  roofs.source = loaded->cache_path.empty() ? "measured now" : loaded->cache_path.string();
  if (!loaded->from_cache) roofs.source += " (measured now)";
  roofs.note = loaded->note;
  return roofs;
}

// ---- measurements ---------------------------------------------------------------------------

double mean(const std::vector<double>& values) {
  if (values.empty()) return 0;
  double sum = 0;
  for (double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

double stddev(const std::vector<double>& values) {
  if (values.size() < 2) return 0;
  const double m = mean(values);
  double sq = 0;
  for (double v : values) sq += (v - m) * (v - m);
  return std::sqrt(sq / static_cast<double>(values.size() - 1));
}

double weight_read_bandwidth(const model::Model& model, backend::Backend& backend) {
  std::vector<const ops::WeightMatrix*> weights;
  for (const model::LayerWeights& layer : model.layers()) {
    for (const model::Linear* l : layer.linears()) weights.push_back(&l->weight);
  }
  weights.push_back(&model.output());
  auto bandwidth = backend.weight_read_bandwidth(weights);
  return bandwidth ? *bandwidth : 0.0;
}

uint64_t peak_rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  uint64_t kb = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "VmHWM:", 6) == 0) {
      kb = std::strtoull(line + 6, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return kb * 1024;
}

bool reset_peak_rss() {
  std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (f == nullptr) return false;
  const bool ok = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && ok;
}

std::string utc_now() {
  char text[32];
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string cpu_brand() {
  return hw::CpuIdentity::current().brand;
}

// ---- output ---------------------------------------------------------------------------------

namespace {

// Terminal columns a UTF-8 string takes (every code point one column: enough for "±").
size_t display_width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string pad(const std::string& s, int width) {
  const size_t w = static_cast<size_t>(std::abs(width));
  const size_t have = display_width(s);
  if (have >= w) return s;
  const std::string fill(w - have, ' ');
  return width < 0 ? s + fill : fill + s;
}

}  // namespace

std::string markdown_header(const std::vector<Column>& columns) {
  // Appends rather than `" " + s + " |"`: GCC 12 warns falsely (-Wrestrict) on the latter.
  std::string line = "|";
  std::string rule = "|";
  for (const Column& c : columns) {
    line.append(" ").append(pad(c.name, c.width)).append(" |");
    rule.append(" ")
        .append(static_cast<size_t>(std::abs(c.width)) - 1, '-')
        .append(c.width > 0 ? ":" : "-")
        .append(" |");
  }
  return line.append("\n").append(rule).append("\n");
}

std::string markdown_row(const std::vector<Column>& columns,
                         const std::vector<std::string>& cells) {
  std::string line = "|";
  for (size_t i = 0; i < columns.size(); ++i) {
    line.append(" ").append(pad(i < cells.size() ? cells[i] : "", columns[i].width)).append(" |");
  }
  return line.append("\n");
}

std::string csv_escape(const std::string& value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string format(const char* fmt, ...) {
  char small[256];
  va_list args;
  va_start(args, fmt);
  va_list copy;
  va_copy(copy, args);
  const int n = std::vsnprintf(small, sizeof small, fmt, args);
  va_end(args);
  std::string out;
  if (n < 0) {
    va_end(copy);
    return out;
  }
  if (static_cast<size_t>(n) < sizeof small) {
    out.assign(small, static_cast<size_t>(n));
  } else {
    out.resize(static_cast<size_t>(n) + 1);
    std::vsnprintf(out.data(), out.size(), fmt, copy);
    out.resize(static_cast<size_t>(n));
  }
  va_end(copy);
  return out;
}

Status write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return io_error("cannot open ", path, " for writing: ", std::strerror(errno));
  out << text;
  out.close();
  if (!out) return io_error("cannot write ", path, ": ", std::strerror(errno));
  return Status();
}

}  // namespace lathe::cli
