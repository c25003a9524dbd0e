// `lathe run`: generate text from a prompt, streaming it, and report the speed.
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "commands.h"
#include "common.h"
#include "core/timer.h"

namespace lathe::cli {

namespace {

// Turns the escapes llama.cpp's -e understands (\n \t \\ \" \') into characters.
std::string unescape(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    switch (text[++i]) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case '\\': out += '\\'; break;
      case '"': out += '"'; break;
      case '\'': out += '\''; break;
      default: out += '\\'; out += text[i];
    }
  }
  return out;
}

Status write_logits(const std::string& path, const float* logits, int64_t n) {
  std::ofstream out(path, std::ios::binary);
  if (!out) return io_error("cannot create ", path);
  out.write(reinterpret_cast<const char*>(logits), static_cast<std::streamsize>(n * sizeof(float)));
  if (!out) return io_error("cannot write ", path);
  return Status();
}

struct RunOptions {
  std::string prompt;
  std::string prompt_file;
  int n_predict = -1;
  bool escape = false;
  bool ignore_eos = false;
  bool no_display_prompt = false;
  std::string logits_out;
};

Status run(ModelFlags& model_flags, SamplingFlags& sampling_flags, RunOptions& opt) {
  const Logger log(model_flags.verbose ? LogLevel::kInfo : LogLevel::kWarn, stderr);
  if (!opt.prompt_file.empty()) {
    std::ifstream in(opt.prompt_file, std::ios::binary);
    if (!in) return io_error("cannot read prompt file ", opt.prompt_file);
    std::ostringstream text;
    text << in.rdbuf();
    opt.prompt = text.str();
  }
  if (opt.escape) opt.prompt = unescape(opt.prompt);

  LATHE_ASSIGN_OR_RETURN(LoadedModel loaded, load_model(model_flags, log));
  if (model_flags.verbose) print_model_summary(loaded, stderr);
  runtime::Context& ctx = *loaded.context;
  const tokenizer::Tokenizer& tok = *loaded.tokenizer;
  LATHE_ASSIGN_OR_RETURN(sampling::Sampler sampler,
                         make_sampler(sampling_flags, static_cast<int32_t>(ctx.n_vocab())));
  if (model_flags.verbose) std::fprintf(stderr, "sampler: %s\n", sampler.describe().c_str());

  std::vector<int32_t> prompt = tok.encode(opt.prompt, /*add_special=*/true, /*parse_special=*/true);
  if (prompt.empty()) return invalid_argument("the prompt is empty and the model adds no BOS token");
  const int64_t n_ctx = ctx.params().n_ctx;
  if (static_cast<int64_t>(prompt.size()) > n_ctx) {
    return out_of_range("the prompt has ", prompt.size(), " tokens but the context holds ", n_ctx,
                        " (use a larger -c)");
  }
  for (int32_t t : prompt) LATHE_RETURN_IF_ERROR(sampler.accept(t));

  if (!opt.no_display_prompt) {
    std::fputs(opt.prompt.c_str(), stdout);
    std::fflush(stdout);
  }

  Stopwatch prompt_timer;
  runtime::Batch batch;
  batch.add_sequence(prompt, 0, 0);
  LATHE_RETURN_IF_ERROR(ctx.decode(batch));
  const double prompt_seconds = prompt_timer.elapsed_s();
  const float* logits = ctx.logits(prompt.size() - 1);
  if (!opt.logits_out.empty()) LATHE_RETURN_IF_ERROR(write_logits(opt.logits_out, logits, ctx.n_vocab()));

  tokenizer::StreamingDetokenizer::Options detok_options;
  detok_options.strip_leading_space = false;  // the text continues the prompt
  tokenizer::StreamingDetokenizer detok(tok, detok_options);
  Stopwatch gen_timer;
  int64_t generated = 0;
  int32_t pos = static_cast<int32_t>(prompt.size());
  bool context_full = false;
  while (opt.n_predict < 0 || generated < opt.n_predict) {
    LATHE_ASSIGN_OR_RETURN(int32_t token,
                           sampler.sample(std::span<const float>(logits, static_cast<size_t>(ctx.n_vocab()))));
    LATHE_RETURN_IF_ERROR(sampler.accept(token));
    ++generated;
    if (tok.is_eog(token) && !opt.ignore_eos) break;
    const std::string text = detok.push(token);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    if (opt.n_predict >= 0 && generated >= opt.n_predict) break;
    if (pos >= n_ctx) {
      context_full = true;
      break;
    }
    batch.clear();
    batch.add(token, pos++, {0}, true);
    LATHE_RETURN_IF_ERROR(ctx.decode(batch));
    logits = ctx.logits(0);
  }
  const std::string rest = detok.flush();
  std::fwrite(rest.data(), 1, rest.size(), stdout);
  std::fputs("\n", stdout);
  std::fflush(stdout);
  const double gen_seconds = gen_timer.elapsed_s();
  if (context_full) {
    std::fprintf(stderr, "lathe run: stopped: the context of %" PRId64 " tokens is full (use -c)\n", n_ctx);
  }
  std::fprintf(stderr, "prompt: %s | generated: %s\n",
               rate_text(static_cast<int64_t>(prompt.size()), prompt_seconds).c_str(),
               rate_text(generated, gen_seconds).c_str());
  return Status();
}

}  // namespace

int run_run(int argc, char** argv) {
  ModelFlags model_flags;
  SamplingFlags sampling_flags;
  RunOptions opt;
  ArgParser args("run", "Generates text from a prompt and streams it; ends with a line of timings "
                        "on stderr.");
  add_model_flags(args, model_flags);
  args.option({"-p", "--prompt"}, "TEXT", "the prompt", &opt.prompt);
  args.option({"-f", "--file"}, "FILE", "read the prompt from a file", &opt.prompt_file);
  args.option({"-n", "--n-predict"}, "N", "tokens to generate (default -1: until end of text or "
                                          "a full context)", &opt.n_predict);
  args.flag({"-e", "--escape"}, "process escapes (\\n, \\t, ...) in the prompt", &opt.escape);
  args.flag({"--ignore-eos"}, "keep generating past end-of-text tokens", &opt.ignore_eos);
  args.flag({"--no-display-prompt"}, "print only the generated text", &opt.no_display_prompt);
  args.option({"--logits-out"}, "FILE",
              "write the last prompt position's logits (little-endian f32)", &opt.logits_out);
  add_sampling_flags(args, sampling_flags);
  Status status = args.parse(argc, argv);
  if (!status.ok()) return fail("run", status.message());
  if (args.help_requested()) {
    std::fputs(args.help().c_str(), stdout);
    return 0;
  }
  status = run(model_flags, sampling_flags, opt);
  if (!status.ok()) return fail("run", status.message());
  return 0;
}

}  // namespace lathe::cli
