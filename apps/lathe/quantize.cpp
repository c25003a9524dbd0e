// `lathe quantize IN OUT TYPE`: GGUF to GGUF re-quantization, like llama-quantize.
//
// Every 2-D weight (not the norms) is dequantized to f32 and quantized to the type the mix gives
// it; other tensors and all metadata are copied, and general.file_type is set to TYPE. Rows are
// converted on a thread pool a chunk at a time and streamed into the output, so memory use stays
// at a few MB whatever the model. With --pure the quantizers' output is bit-identical to
// `llama-quantize --pure` (tests/apps/quantize_test.cpp checks the shared fixtures). As with
// llama-quantize, converting a weight that is already quantized needs --allow-requantize.
#include <cinttypes>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "args.h"
#include "bench_commands.h"
#include "commands.h"
#include "core/cpu_features.h"
#include "core/timer.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "gguf/tensor_names.h"
#include "model/synth_presets.h"
#include "quant/quant.h"
#include "quantize_stream.h"

namespace lathe::cli {

namespace {

namespace synth = model::synth;

// ggml_n_dims: trailing dimensions of size 1 do not count.
int n_dims(const gguf::TensorInfo& t) {
  int n = static_cast<int>(t.shape.size());
  while (n > 1 && t.shape[static_cast<size_t>(n - 1)] == 1) --n;
  return n;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// llama-quantize's tensor_allows_quantization, for the architectures lathe runs.
bool allows_quantization(const gguf::TensorInfo& t) {
  if (n_dims(t) < 2) return false;
  if (!ends_with(t.name, "weight")) return false;
  if (t.name.find("_norm.weight") != std::string::npos) return false;
  return true;
}

// ggml_is_quantized: every type with blocks of more than one weight (not F32, F16, BF16).
bool is_quantized(TensorType type) {
  return tensor_type_info(type).block_elems > 1;
}

std::string mib(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return text;
}

struct Options {
  std::string input, output, type, threads_positional;
  bool pure = false;
  bool allow_requantize = false;
  int threads = 0;
  std::string output_tensor_type;
  std::string token_embedding_type;
  bool verbose = false;
  bool quiet = false;
};

Expected<std::optional<TensorType>> optional_type(std::string_view flag, const std::string& name) {
  if (name.empty()) return std::optional<TensorType>();
  LATHE_ASSIGN_OR_RETURN(TensorType type, parse_tensor_type(name));
  if (!synth::is_writable_type(type)) {
    return invalid_argument(flag, ": lathe cannot write ", tensor_type_name(type));
  }
  return std::optional<TensorType>(type);
}

int quantize_main(const Options& o) {
  auto file_type = synth::parse_file_type(o.type);
  if (!file_type) return fail("quantize", file_type.error().message());
  auto output_type = optional_type("--output-tensor-type", o.output_tensor_type);
  if (!output_type) return fail("quantize", output_type.error().message());
  auto embd_type = optional_type("--token-embedding-type", o.token_embedding_type);
  if (!embd_type) return fail("quantize", embd_type.error().message());
  if (o.input == o.output) return fail("quantize", "the output would overwrite the input");

  auto opened = gguf::File::open(o.input);
  if (!opened) return fail("quantize", opened.error().message());
  const gguf::File& in = *opened;

  synth::TypeChooser::ModelInfo info;
  if (auto arch = in.get_string_or("general.architecture", ""); arch) {
    info.architecture = std::string(*arch);
  }
  const std::string a = info.architecture + ".";
  // Only the mix reads these; a key of an unexpected type just means "unknown" (0).
  auto integer = [&](const std::string& key, int64_t fallback) -> int64_t {
    auto value = in.get_integer_or(key, fallback);
    return value ? *value : 0;
  };
  info.n_layer = integer(a + "block_count", 0);
  info.n_head = integer(a + "attention.head_count", 0);
  info.n_head_kv = integer(a + "attention.head_count_kv", info.n_head);
  info.tied_output = in.find_tensor(gguf::tensor_name(gguf::TensorRole::kOutput)) == nullptr;
  for (const gguf::TensorInfo& t : in.tensors()) {
    const synth::TensorRole role = synth::role_from_name(t.name);
    if (role == synth::TensorRole::kAttnV) ++info.n_attn_v;
    if (role == synth::TensorRole::kFfnDown) ++info.n_ffn_down;
  }
  synth::TypeChooser::Options choose_options;
  choose_options.pure = o.pure;
  choose_options.output_type = *output_type;
  choose_options.token_embd_type = *embd_type;
  synth::TypeChooser chooser(*file_type, info, choose_options);

  // Metadata in the input's order, then what llama-quantize sets (replaced in place if present).
  gguf::Writer writer(in.alignment());
  for (const gguf::KeyValue& kv : in.metadata()) {
    Status status = writer.set_value(kv.key, kv.value);
    if (!status.ok())
      return fail("quantize", cat(o.input, ": key ", kv.key, ": ", status.message()));
  }
  writer.set_u32("general.quantization_version", 2);
  writer.set_u32("general.file_type", static_cast<uint32_t>(*file_type));

  std::vector<TensorType> types;
  uint64_t in_bytes = 0, out_bytes = 0;
  const gguf::TensorInfo* requantized = nullptr;  // the first, when there are any
  size_t n_requantized = 0;
  for (const gguf::TensorInfo& t : in.tensors()) {
    synth::TensorSpec spec;
    spec.name = t.name;
    spec.shape = t.shape;
    spec.role = synth::role_from_name(t.name);
    spec.quantizable = allows_quantization(t);
    const TensorType type = chooser.choose(spec, t.type);
    if (type != t.type && !quant::is_supported(t.type)) {
      return fail("quantize", cat(o.input, ": tensor ", t.name, " is ", tensor_type_name(t.type),
                                  ", which lathe cannot dequantize"));
    }
    // Quantizing quantized weights again compounds both rounding errors, so llama-quantize asks
    // for --allow-requantize; a tensor that keeps its type is copied and loses nothing.
    if (type != t.type && is_quantized(t.type)) {
      if (requantized == nullptr) requantized = &t;
      ++n_requantized;
    }
    types.push_back(type);
    Status status = writer.add_tensor(t.name, type, t.shape);
    if (!status.ok()) return fail("quantize", cat(t.name, ": ", status.message()));
    in_bytes += t.n_bytes;
    out_bytes += writer.tensor_bytes(writer.tensor_count() - 1);
  }
  if (requantized != nullptr && !o.allow_requantize) {
    const std::string more = n_requantized > 1 ? cat(" (", n_requantized - 1,
                                                     " more weights to convert are quantized too)")
                                               : "";
    return fail("quantize", cat(o.input, ": tensor ", requantized->name, " is already ",
                                tensor_type_name(requantized->type), more,
                                "; quantizing again loses quality: quantize the F32/F16/BF16 "
                                "original, or pass --allow-requantize"));
  }
  if (!o.quiet) {
    for (const std::string& note : chooser.notes()) {
      std::fprintf(stderr, "lathe quantize: %s\n", note.c_str());
    }
  }

  Stopwatch timer;
  auto sink = writer.begin(o.output);
  if (!sink) return fail("quantize", sink.error().message());
  const int threads = o.threads > 0 ? o.threads : default_thread_count();
  TensorStreamer streamer(threads);
  ProgressLine progress("lathe quantize");
  progress.set_enabled(!o.quiet);
  uint64_t done = 0;
  const size_t n_tensors = in.tensors().size();
  for (size_t i = 0; i < n_tensors; ++i) {
    const gguf::TensorInfo& t = in.tensors()[i];
    const TensorType type = types[i];
    if (o.verbose) {
      std::printf("[%4zu/%4zu] %-36s %-20s %6s -> %-6s %10s -> %10s\n", i + 1, n_tensors,
                  t.name.c_str(), t.shape_string().c_str(),
                  std::string(tensor_type_name(t.type)).c_str(),
                  std::string(tensor_type_name(type)).c_str(), mib(t.n_bytes).c_str(),
                  mib(writer.tensor_bytes(i)).c_str());
    }
    Status status;
    if (type == t.type) {
      // Same type: the bytes as they are (llama-quantize copies too, so nothing is re-rounded).
      status = sink->write(t.bytes());
    } else {
      const int64_t n_cols = t.shape[0];
      const int64_t n_rows = n_cols > 0 ? static_cast<int64_t>(t.n_elements) / n_cols : 0;
      const uint64_t src_row_bytes = t.row_bytes();
      const TensorType src_type = t.type;
      const uint8_t* src = t.data;
      auto fill = [&](int64_t r0, int64_t r1, float* out) {
        return quant::dequantize_rows(src_type, src + static_cast<uint64_t>(r0) * src_row_bytes,
                                      out, r1 - r0, n_cols);
      };
      status = streamer.write(*sink, type, n_rows, n_cols, fill, [&](int64_t rows) {
        char text[160];
        std::snprintf(text, sizeof text, "[%zu/%zu] %s %.0f%%", i + 1, n_tensors, t.name.c_str(),
                      100.0 * static_cast<double>(rows) / static_cast<double>(n_rows));
        progress.update(text);
      });
    }
    if (!status.ok()) return fail("quantize", cat(t.name, ": ", status.message()));
    done += t.n_bytes;
  }
  Status status = sink->finish();
  progress.finish();
  if (!status.ok()) return fail("quantize", status.message());
  std::printf("lathe quantize: wrote %s: %s%s, %s -> %s, %zu tensors, %d threads, %.1f s\n",
              o.output.c_str(), std::string(synth::file_type_name(*file_type)).c_str(),
              o.pure ? " (pure)" : "", mib(in_bytes).c_str(), mib(out_bytes).c_str(), n_tensors,
              threads, timer.elapsed_s());
  (void)done;
  return 0;
}

}  // namespace

int run_quantize(int argc, char** argv) {
  Options o;
  ArgParser args("quantize",
                 "Re-quantizes a GGUF model: every 2-D weight is converted to TYPE, or to "
                 "llama-quantize's mix for TYPE (e.g. Q4_K_M puts the output matrix and some "
                 "attn_v/ffn_down in Q6_K); norms stay F32 and metadata is copied. Weights that "
                 "are already quantized are converted only with --allow-requantize. Types: " +
                     synth::file_type_names() + ".");
  args.flag({"--pure"}, "every 2-D weight in TYPE (llama-quantize --pure)", &o.pure);
  args.flag({"--allow-requantize"},
            "convert weights that are already quantized (refused without it: each quantization "
            "loses quality, so quantize the F32/F16/BF16 original where there is one)",
            &o.allow_requantize);
  args.threads({"-t", "--threads"}, "threads (default 0)", &o.threads);
  args.option({"--output-tensor-type"}, "TYPE", "type of output.weight", &o.output_tensor_type);
  args.option({"--token-embedding-type"}, "TYPE", "type of token_embd.weight",
              &o.token_embedding_type);
  args.flag({"-v", "--verbose"}, "one line per tensor", &o.verbose);
  args.flag({"-q", "--quiet"}, "no progress or notes on stderr", &o.quiet);
  args.positional("IN", "the model to read (GGUF)", &o.input);
  args.positional("OUT", "the GGUF file to write", &o.output);
  args.positional("TYPE", "the file type, e.g. Q4_0, Q4_K_M, IQ4_XS", &o.type);
  args.positional("NTHREADS", "threads, as -t (llama-quantize's spelling)", &o.threads_positional,
                  false);
  Status status = args.parse(argc, argv);
  if (!status.ok()) return fail("quantize", status.message());
  if (args.help_requested()) {
    std::fputs(args.help().c_str(), stdout);
    return 0;
  }
  if (!o.threads_positional.empty()) {
    auto n = parse_int(o.threads_positional);
    auto threads = n ? resolve_threads(*n) : Expected<int>(n.error());
    if (!threads) return fail("quantize", "NTHREADS: " + threads.error().message());
    o.threads = *threads;
  }
  return quantize_main(o);
}

}  // namespace lathe::cli
