// `lathe convert INPUT -o OUT.gguf [--type TYPE] [--tokenizer FILE] [--name NAME]`
//
// INPUT is a llama2.c checkpoint (.bin; --tokenizer is then required) or a Hugging Face model
// folder (config.json, *.safetensors, tokenizer.json). TYPE is a tensor type (f32, f16, bf16,
// q8_0, q4_0, ...: every 2-D weight in that type, norms f32, as convert_hf_to_gguf.py --outtype
// does) or a llama-quantize mix name such as Q4_K_M (the mix lathe quantize applies).
#include "convert_command.h"

#include <cinttypes>
#include <cstdio>
#include <optional>
#include <string>

#include "args.h"
#include "commands.h"
#include "convert/convert.h"
#include "core/cpu_features.h"
#include "core/timer.h"
#include "model/synth_presets.h"
#include "quantize_stream.h"

namespace lathe::cli {

namespace {

namespace synth = model::synth;

struct Options {
  std::string input, output, type = "f16", tokenizer, name;
  int threads = 0;
  bool verbose = false;
  bool quiet = false;
};

std::string mib(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return text;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int convert_main(const Options& o) {
  constexpr std::string_view kCmd = "convert";
  if (o.output.empty()) return fail(kCmd, "give the output file with -o OUT.gguf");
  if (o.input == o.output) return fail(kCmd, "the output would overwrite the input");

  convert::ConvertOptions options;
  options.tokenizer = o.tokenizer;
  options.name = o.name;
  options.n_threads = o.threads > 0 ? o.threads : default_thread_count();
  Logger logger(o.quiet ? LogLevel::kError : LogLevel::kWarn, stderr);
  options.logger = &logger;

  // A tensor type name gives the converter's rule; a mix name gives llama-quantize's mix.
  std::optional<synth::FileType> mix;
  if (auto type = parse_tensor_type(o.type); type && convert::is_writable_type(*type)) {
    options.type = *type;
  } else if (auto file_type = synth::parse_file_type(o.type)) {
    mix = *file_type;
    options.type = synth::base_tensor_type(*file_type);
  } else {
    return fail(kCmd, cat("--type ", o.type,
                          ": not a type lathe writes (tensor types: f32, f16, "
                          "bf16, q8_0, q4_0, q4_1, iq4_nl, iq4_xs, q4_K, q6_K; mixes: ",
                          synth::file_type_names(), ")"));
  }

  Stopwatch timer;
  auto plan = convert::plan_conversion(o.input, options);
  if (!plan) return fail(kCmd, plan.error().message());
  if (!o.quiet) std::fprintf(stderr, "lathe convert: %s\n", plan->description.c_str());

  std::optional<synth::TypeChooser> chooser;
  if (mix) {
    synth::TypeChooser::ModelInfo info;
    info.architecture = plan->arch;
    info.n_layer = plan->n_layer;
    info.n_head = plan->n_head;
    info.n_head_kv = plan->n_head_kv;
    info.tied_output = true;
    for (const auto& t : plan->tensors) {
      const synth::TensorRole role = synth::role_from_name(t.name);
      if (role == synth::TensorRole::kAttnV) ++info.n_attn_v;
      if (role == synth::TensorRole::kFfnDown) ++info.n_ffn_down;
      if (role == synth::TensorRole::kOutput) info.tied_output = false;
    }
    chooser.emplace(*mix, info, synth::TypeChooser::Options{});
    options.choose_type = [&chooser](const convert::PlannedTensor& t) {
      synth::TensorSpec spec;
      spec.name = t.name;
      spec.shape = t.shape;
      spec.role = synth::role_from_name(t.name);
      spec.quantizable = t.quantizable;
      return chooser->choose(spec, TensorType::kF32);
    };
    plan->metadata.set_u32("general.file_type", static_cast<uint32_t>(*mix));
    plan->metadata.set_u32("general.quantization_version", 2);
  }

  ProgressLine progress("lathe convert");
  progress.set_enabled(!o.quiet);
  options.on_tensor = [&](size_t i, size_t n, const convert::PlannedTensor& t, TensorType type) {
    if (o.verbose) {
      std::printf("[%4zu/%4zu] %-28s %-16s %-6s <- %s\n", i + 1, n, t.name.c_str(),
                  shape_text(t.shape).c_str(), std::string(tensor_type_name(type)).c_str(),
                  t.source.c_str());
    }
    char text[160];
    std::snprintf(text, sizeof text, "[%zu/%zu] %s", i + 1, n, t.name.c_str());
    progress.update(text);
  };
  auto result = convert::write_gguf(*plan, o.output, options);
  progress.finish();
  if (!result) return fail(kCmd, result.error().message());
  if (chooser && !o.quiet) {
    for (const std::string& note : chooser->notes()) {
      std::fprintf(stderr, "lathe convert: %s\n", note.c_str());
    }
  }
  if (!o.quiet) {
    std::printf("lathe convert: wrote %s: %s, %zu tensors, %s, %d threads, %.1f s\n",
                o.output.c_str(), o.type.c_str(), result->n_tensors, mib(result->n_bytes).c_str(),
                options.n_threads, timer.elapsed_s());
  }
  return 0;
}

}  // namespace

int run_convert(int argc, char** argv) {
  Options o;
  ArgParser args("convert",
                 "Converts a llama2.c checkpoint (.bin, with --tokenizer) or a Hugging Face "
                 "folder (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, "
                 "Qwen3ForCausalLM; safetensors in F32/F16/BF16) to GGUF. Llama q/k rows are "
                 "permuted to GGUF's rope layout; norms stay f32.");
  args.positional("INPUT", "llama2.c checkpoint or Hugging Face model folder", &o.input);
  args.option({"-o", "--output", "--outfile"}, "OUT", "the GGUF file to write", &o.output);
  args.option({"--type", "--outtype"}, "TYPE",
              "weight type: f32, f16 (default), bf16, q8_0, q4_0, ... or a mix such as Q4_K_M",
              &o.type);
  args.option({"--tokenizer"}, "FILE",
              "tokenizer.bin (llama2.c) or tokenizer.json; required for llama2.c checkpoints",
              &o.tokenizer);
  args.option({"--name"}, "NAME", "general.name (default: the input's name)", &o.name);
  args.threads({"-t", "--threads"}, "threads (default 0)", &o.threads);
  args.flag({"-v", "--verbose"}, "one line per tensor", &o.verbose);
  args.flag({"-q", "--quiet"}, "no progress or summary", &o.quiet);
  Status status = args.parse(argc, argv);
  if (!status.ok()) return fail("convert", status.message());
  if (args.help_requested()) {
    std::fputs(args.help().c_str(), stdout);
    return 0;
  }
  return convert_main(o);
}

}  // namespace lathe::cli
