// `lathe synth`: random-weight GGUF models of real shapes, written directly in any weight type.
//
// The weights are a pure function of (seed, tensor name, element index), computed by a
// counter-based generator, so a model comes out bit-identical whatever the thread count, and two
// files of the same shape and seed in different types hold the same underlying values (a Q4_0 and
// a Q8_0 file differ only by their quantization). Rows are made and quantized a chunk at a time
// straight into the streaming GGUF writer, so memory use does not grow with the model.
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "bench_commands.h"
#include "commands.h"
#include "core/cpu_features.h"
#include "core/timer.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "model/synth_presets.h"
#include "quantize_stream.h"
#include "synth_vocab.h"

namespace lathe::cli {

namespace {

namespace synth = model::synth;

// SplitMix64's output function: a bijective mix of 64 bits.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(std::string_view text) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

// Element i of a tensor's stream is mix64(key + (i + 1) * golden): SplitMix64 evaluated at an
// arbitrary counter, so any thread can produce any element without touching shared state.
class WeightStream {
 public:
  WeightStream(uint64_t seed, std::string_view tensor_name)
      : key_(mix64(seed ^ mix64(fnv1a(tensor_name)))) {}

  // A centred, approximately normal value with standard deviation 1: the sum of four 16-bit
  // uniforms (Irwin-Hall), integer-only until one multiply, so every platform gets the same bits.
  float normal(uint64_t index) const {
    const uint64_t r = mix64(key_ + (index + 1) * 0x9E3779B97F4A7C15ull);
    const int64_t sum = static_cast<int64_t>(r & 0xFFFF) +
                        static_cast<int64_t>((r >> 16) & 0xFFFF) +
                        static_cast<int64_t>((r >> 32) & 0xFFFF) + static_cast<int64_t>(r >> 48);
    // Each 16-bit uniform has mean 65535/2 and variance (65536^2 - 1)/12.
    constexpr float kInvStd = 1.0f / 37837.2245f;  // 1 / sqrt(4 * (65536^2 - 1) / 12)
    return static_cast<float>(sum - 2 * 65535) * kInvStd;
  }

 private:
  uint64_t key_;
};

// What a tensor's values look like: scaled so activations keep a realistic size through the
// layers. A matrix row has standard deviation 1/sqrt(row length), so W x of a unit-RMS x has
// unit-scale outputs; norms are 1 (what a freshly initialised model has); biases are small.
float value_scale(const synth::TensorSpec& t) {
  switch (t.role) {
    case synth::TensorRole::kBias:
      return 0.02f;
    default:
      return 1.0f / std::sqrt(static_cast<float>(t.shape[0]));
  }
}

bool is_norm(synth::TensorRole role) {
  return role == synth::TensorRole::kAttnNorm || role == synth::TensorRole::kFfnNorm ||
         role == synth::TensorRole::kOutputNorm || role == synth::TensorRole::kQkNorm;
}

std::string human_size(double bytes) {
  char text[32];
  if (bytes >= 1024.0 * 1024 * 1024) {
    std::snprintf(text, sizeof text, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
  } else {
    std::snprintf(text, sizeof text, "%.2f MiB", bytes / (1024.0 * 1024));
  }
  return text;
}

struct Options {
  std::string preset;
  std::string output;
  std::string type = "F16";
  int64_t seed = 1;
  bool pure = false;
  int threads = 0;
  std::string vocab_from;
  std::string vocab_style;
  std::string arch;
  std::string name;
  int64_t dim = -1, layers = -1, heads = -1, kv_heads = -1, ffn = -1, vocab = -1, head_dim = -1,
          ctx = -1;
  double rope_base = -1, rms_eps = -1;
  bool tied = false, untied = false;
  bool list_presets = false;
  bool quiet = false;
};

void print_presets() {
  std::printf("%-18s %-6s %6s %6s %5s %4s %5s %6s %7s %s\n", "preset", "arch", "dim", "layers",
              "heads", "kv", "head", "ffn", "vocab", "output");
  for (const synth::ModelShape& p : synth::presets()) {
    std::printf("%-18s %-6s %6" PRId64 " %6" PRId64 " %5" PRId64 " %4" PRId64 " %5" PRId64
                " %6" PRId64 " %7" PRId64 " %s\n",
                p.preset.c_str(), p.architecture.c_str(), p.n_embd, p.n_layer, p.n_head,
                p.n_head_kv, p.head_size(), p.n_ff, p.n_vocab, p.tied_output ? "tied" : "untied");
  }
}

// The shape asked for: a preset with any overrides, or a custom shape from the flags alone.
Expected<synth::ModelShape> shape_from(const Options& o, const gguf::File* vocab_file) {
  synth::ModelShape s;
  if (!o.preset.empty()) {
    const synth::ModelShape* p = synth::find_preset(o.preset);
    if (p == nullptr) {
      std::string names;
      for (const auto& q : synth::presets()) names += (names.empty() ? "" : ", ") + q.preset;
      return invalid_argument("unknown preset '", o.preset, "' (", names, ")");
    }
    s = *p;
  } else {
    const char* missing = o.dim < 0                                ? "--dim"
                          : o.layers < 0                           ? "--layers"
                          : o.heads < 0                            ? "--heads"
                          : o.ffn < 0                              ? "--ffn"
                          : (o.vocab < 0 && vocab_file == nullptr) ? "--vocab (or --vocab-from)"
                                                                   : nullptr;
    if (missing != nullptr) {
      return invalid_argument(
          "give --preset NAME, or a custom shape with --dim, --layers, "
          "--heads, --ffn and --vocab (missing ",
          missing, ")");
    }
    s.architecture = o.arch.empty() ? "llama" : o.arch;
    const bool qwen = s.architecture != "llama";
    s.rope_freq_base = qwen ? 1e6 : 1e4;
    s.rms_eps = qwen ? 1e-6 : 1e-5;
    s.vocab = qwen ? synth::VocabStyle::kBpeQwen2 : synth::VocabStyle::kBpeLlama3;
    s.head_dim_keys = s.architecture == "qwen3";
  }
  if (!o.arch.empty()) s.architecture = o.arch;
  if (o.dim >= 0) s.n_embd = o.dim;
  if (o.layers >= 0) s.n_layer = o.layers;
  if (o.heads >= 0) s.n_head = o.heads;
  if (o.kv_heads >= 0) {
    s.n_head_kv = o.kv_heads;
  } else if (o.preset.empty()) {
    s.n_head_kv = s.n_head;
  }
  if (o.head_dim >= 0) s.head_dim = o.head_dim;
  if (o.ffn >= 0) s.n_ff = o.ffn;
  if (o.vocab >= 0) s.n_vocab = o.vocab;
  if (o.ctx >= 0) s.n_ctx_train = o.ctx;
  if (o.rope_base > 0) s.rope_freq_base = o.rope_base;
  if (o.rms_eps > 0) s.rms_eps = o.rms_eps;
  if (o.tied) s.tied_output = true;
  if (o.untied) s.tied_output = false;
  if (s.head_dim > 0 && s.n_embd % s.n_head == 0 && s.head_dim != s.n_embd / s.n_head) {
    s.head_dim_keys = true;  // llama.cpp would otherwise assume n_embd / n_head
  }
  if (!o.vocab_style.empty()) {
    LATHE_ASSIGN_OR_RETURN(s.vocab, synth::parse_vocab_style(o.vocab_style));
  }
  if (vocab_file != nullptr) {
    const gguf::Value* tokens = vocab_file->find("tokenizer.ggml.tokens");
    if (tokens == nullptr || tokens->type() != gguf::ValueType::kArray) {
      return invalid_argument(vocab_file->path(), " has no tokenizer.ggml.tokens array");
    }
    const auto n = static_cast<int64_t>(tokens->array_size());
    if (o.vocab >= 0 && o.vocab != n) {
      return invalid_argument("--vocab ", o.vocab, " disagrees with the ", n, " tokens of ",
                              vocab_file->path());
    }
    s.n_vocab = n;
  }
  if (!o.name.empty()) s.display_name = o.name;
  if (s.display_name.empty()) {
    s.display_name = cat("synth-", s.architecture, "-", s.n_embd, "x", s.n_layer);
  }
  if (o.preset.empty()) s.preset = "custom";
  LATHE_RETURN_IF_ERROR(synth::validate(s));
  return s;
}

void write_hparams(const synth::ModelShape& s, synth::FileType file_type, gguf::Writer& w) {
  const std::string a = s.architecture + ".";
  w.set_string("general.architecture", s.architecture);
  w.set_string("general.type", "model");
  w.set_string("general.name", s.display_name);
  w.set_u32(a + "block_count", static_cast<uint32_t>(s.n_layer));
  w.set_u32(a + "context_length", static_cast<uint32_t>(s.n_ctx_train));
  w.set_u32(a + "embedding_length", static_cast<uint32_t>(s.n_embd));
  w.set_u32(a + "feed_forward_length", static_cast<uint32_t>(s.n_ff));
  w.set_u32(a + "attention.head_count", static_cast<uint32_t>(s.n_head));
  w.set_u32(a + "attention.head_count_kv", static_cast<uint32_t>(s.n_head_kv));
  w.set_f32(a + "rope.freq_base", static_cast<float>(s.rope_freq_base));
  w.set_f32(a + "attention.layer_norm_rms_epsilon", static_cast<float>(s.rms_eps));
  if (s.head_dim_keys) {
    w.set_u32(a + "attention.key_length", static_cast<uint32_t>(s.head_size()));
    w.set_u32(a + "attention.value_length", static_cast<uint32_t>(s.head_size()));
  }
  w.set_u32("general.file_type", static_cast<uint32_t>(file_type));
  if (s.architecture == "llama") {
    // LlamaModel.set_gguf_parameters adds these two.
    w.set_u32(a + "vocab_size", static_cast<uint32_t>(s.n_vocab));
    w.set_u32(a + "rope.dimension_count", static_cast<uint32_t>(s.head_size()));
  }
}

int synth_main(const Options& o) {
  std::unique_ptr<gguf::File> vocab_file;
  if (!o.vocab_from.empty()) {
    auto file = gguf::File::open(o.vocab_from);
    if (!file) return fail("synth", file.error().message());
    vocab_file = std::make_unique<gguf::File>(std::move(*file));
  }
  auto shape_or = shape_from(o, vocab_file.get());
  if (!shape_or) return fail("synth", shape_or.error().message());
  const synth::ModelShape& shape = *shape_or;
  auto file_type = synth::parse_file_type(o.type);
  if (!file_type) return fail("synth", "--type: " + file_type.error().message());
  const std::string output = !o.output.empty() ? o.output : "";
  if (output.empty()) return fail("synth", "give the output file (-o FILE or a last argument)");
  if (o.seed < 0) return fail("synth", "--seed must be 0 or more");
  const int threads = o.threads > 0 ? o.threads : default_thread_count();

  gguf::Writer writer;
  write_hparams(shape, *file_type, writer);
  std::string vocab_note;
  if (vocab_file) {
    for (const gguf::KeyValue& kv : vocab_file->metadata()) {
      if (kv.key.rfind("tokenizer.", 0) != 0) continue;
      Status status = writer.set_value(kv.key, kv.value);
      if (!status.ok()) return fail("synth", cat(o.vocab_from, ": ", status.message()));
    }
    vocab_note = cat("vocabulary of ", shape.n_vocab, " tokens from ", o.vocab_from);
  } else {
    auto vocab = generate_vocab(shape.vocab, shape.n_vocab);
    if (!vocab) return fail("synth", vocab.error().message());
    write_vocab(*vocab, writer);
    vocab_note = cat("generated ", synth::vocab_style_name(shape.vocab), " vocabulary of ",
                     shape.n_vocab, " tokens");
  }
  writer.set_u32("general.quantization_version", 2);
  writer.set_string("lathe.synth.preset", shape.preset);
  writer.set_u64("lathe.synth.seed", static_cast<uint64_t>(o.seed));

  const std::vector<synth::TensorSpec> tensors = synth::plan_tensors(shape);
  synth::TypeChooser::ModelInfo info{shape.architecture, shape.n_layer,     shape.n_head,
                                     shape.n_head_kv,    shape.tied_output, shape.n_layer,
                                     shape.n_layer};
  synth::TypeChooser::Options choose_options;
  choose_options.pure = o.pure;
  synth::TypeChooser chooser(*file_type, info, choose_options);
  std::vector<TensorType> types;
  uint64_t total_bytes = 0;
  int64_t total_params = 0;
  for (const synth::TensorSpec& t : tensors) {
    const TensorType type = chooser.choose(t, TensorType::kF32);
    types.push_back(type);
    Status status = writer.add_tensor(t.name, type, t.shape);
    if (!status.ok()) return fail("synth", status.message());
    total_bytes += writer.tensor_bytes(writer.tensor_count() - 1);
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    total_params += n;
  }
  if (!o.quiet) {
    for (const std::string& note : chooser.notes()) {
      std::fprintf(stderr, "lathe synth: %s\n", note.c_str());
    }
  }

  Stopwatch timer;
  auto sink = writer.begin(output);
  if (!sink) return fail("synth", sink.error().message());
  TensorStreamer streamer(threads);
  ProgressLine progress("lathe synth");
  progress.set_enabled(!o.quiet);
  uint64_t done_bytes = 0;
  std::vector<float> small;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const synth::TensorSpec& t = tensors[i];
    const WeightStream stream(static_cast<uint64_t>(o.seed), t.name);
    const int64_t n_cols = t.shape[0];
    const int64_t n_rows = t.shape.size() > 1 ? t.shape[1] : 1;
    std::vector<float> rope_factors;
    if (t.role == synth::TensorRole::kRopeFreqs) rope_factors = synth::llama3_rope_factors(shape);
    const float scale = value_scale(t);
    const synth::TensorRole role = t.role;
    auto fill = [&](int64_t r0, int64_t r1, float* out) -> Status {
      for (int64_t r = r0; r < r1; ++r) {
        float* row = out + (r - r0) * n_cols;
        for (int64_t c = 0; c < n_cols; ++c) {
          if (role == synth::TensorRole::kRopeFreqs) {
            row[c] = rope_factors[static_cast<size_t>(c)];
          } else if (is_norm(role)) {
            row[c] = 1.0f;
          } else {
            row[c] = scale * stream.normal(static_cast<uint64_t>(r * n_cols + c));
          }
        }
      }
      return Status();
    };
    const uint64_t tensor_bytes = writer.tensor_bytes(i);
    Status status = streamer.write(*sink, types[i], n_rows, n_cols, fill, [&](int64_t rows) {
      const double done =
          static_cast<double>(done_bytes) + static_cast<double>(tensor_bytes) * rows / n_rows;
      char text[160];
      std::snprintf(text, sizeof text, "%5.1f%% %s",
                    100.0 * done / static_cast<double>(total_bytes), t.name.c_str());
      progress.update(text);
    });
    if (!status.ok()) return fail("synth", cat(t.name, ": ", status.message()));
    done_bytes += tensor_bytes;
  }
  Status status = sink->finish();
  progress.finish();
  if (!status.ok()) return fail("synth", status.message());
  std::printf("lathe synth: wrote %s: %s (%s, %.3f B params), %s%s, %s, seed %" PRId64
              ", %s, %.1f s\n",
              output.c_str(), shape.preset.c_str(), shape.architecture.c_str(),
              static_cast<double>(total_params) / 1e9,
              std::string(synth::file_type_name(*file_type)).c_str(), o.pure ? " (pure)" : "",
              human_size(static_cast<double>(total_bytes)).c_str(), o.seed, vocab_note.c_str(),
              timer.elapsed_s());
  return 0;
}

}  // namespace

int run_synth(int argc, char** argv) {
  Options o;
  std::string positional_output;
  ArgParser args("synth",
                 "Writes a GGUF model of a real model's shape with random weights, directly in "
                 "any weight type. The weights are a function of --seed alone: the same seed "
                 "gives the same bytes whatever -t is. Memory use does not depend on the model's "
                 "size.");
  args.option({"--preset"}, "NAME", "a real model's shape (see --list-presets)", &o.preset);
  args.flag({"--list-presets"}, "print the presets and exit", &o.list_presets);
  args.option({"--type"}, "TYPE",
              "weight type: " + model::synth::file_type_names() + " (default F16)", &o.type);
  args.flag({"--pure"},
            "every 2-D weight in --type (llama-quantize --pure); otherwise llama-quantize's mix "
            "(e.g. the output matrix in Q6_K)",
            &o.pure);
  args.option({"-o", "--output"}, "FILE", "the GGUF file to write", &o.output);
  args.option({"--seed"}, "N", "random seed (default 1)", &o.seed);
  args.threads({"-t", "--threads"}, "threads (default 0)", &o.threads);
  args.option({"--vocab-from"}, "FILE",
              "copy every tokenizer.* key from this GGUF (the vocabulary size follows it)",
              &o.vocab_from);
  args.option({"--vocab-style"}, "STYLE",
              "generated vocabulary: llama3, qwen2, smollm (byte-level BPE) or spm (default: the "
              "preset's)",
              &o.vocab_style);
  args.option({"--arch"}, "ARCH", "llama, qwen2 or qwen3 (custom shapes; default llama)", &o.arch);
  args.option({"--dim"}, "N", "embedding size", &o.dim);
  args.option({"--layers"}, "N", "layers", &o.layers);
  args.option({"--heads"}, "N", "attention heads", &o.heads);
  args.option({"--kv-heads"}, "N", "key/value heads (default: --heads)", &o.kv_heads);
  args.option({"--head-dim"}, "N", "head size (default: dim / heads)", &o.head_dim);
  args.option({"--ffn"}, "N", "feed-forward size", &o.ffn);
  args.option({"--vocab"}, "N", "vocabulary size", &o.vocab);
  args.option({"--ctx"}, "N", "training context length (default 4096 for custom shapes)", &o.ctx);
  args.option({"--rope-base"}, "X", "rope frequency base", &o.rope_base);
  args.option({"--rms-eps"}, "X", "RMS norm epsilon", &o.rms_eps);
  args.flag({"--tied"}, "the output matrix is the embedding table", &o.tied);
  args.flag({"--untied"}, "a separate output matrix", &o.untied);
  args.option({"--name"}, "TEXT", "general.name", &o.name);
  args.flag({"-q", "--quiet"}, "no progress or notes on stderr", &o.quiet);
  args.positional("OUT", "the GGUF file to write (or -o)", &positional_output, false);
  Status status = args.parse(argc, argv);
  if (!status.ok()) return fail("synth", status.message());
  if (args.help_requested()) {
    std::fputs(args.help().c_str(), stdout);
    return 0;
  }
  if (o.list_presets) {
    print_presets();
    return 0;
  }
  if (!positional_output.empty()) {
    if (!o.output.empty()) return fail("synth", "give the output file once (-o or last argument)");
    o.output = positional_output;
  }
  if (o.tied && o.untied) return fail("synth", "--tied and --untied contradict each other");
  if (!o.arch.empty() && !model::synth::is_synth_architecture(o.arch)) {
    return fail("synth", "--arch must be llama, qwen2 or qwen3, got '" + o.arch + "'");
  }
  return synth_main(o);
}

}  // namespace lathe::cli
