// `lathe perplexity`: the perplexity of a model over a text file, computed as llama-perplexity
// does, so the two can be compared number for number.
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "commands.h"
#include "common.h"
#include "core/timer.h"

namespace lathe::cli {

namespace {

// -log p(token) from one row of logits, via a max-shifted log-sum-exp in double.
double negative_log_prob(const float* logits, int64_t n_vocab, int32_t token) {
  float max_logit = logits[0];
  for (int64_t i = 1; i < n_vocab; ++i) max_logit = std::max(max_logit, logits[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(logits[i] - max_logit));
  return -(static_cast<double>(logits[token] - max_logit) - std::log(sum));
}

struct PerplexityOptions {
  std::string text_file;
  int chunks = -1;
};

Status perplexity(ModelFlags& model_flags, const PerplexityOptions& opt) {
  const Logger log(model_flags.verbose ? LogLevel::kInfo : LogLevel::kWarn, stderr);
  if (opt.text_file.empty()) return invalid_argument("no text given (-f FILE)");
  std::ifstream in(opt.text_file, std::ios::binary);
  if (!in) return io_error("cannot read ", opt.text_file);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();

  if (model_flags.n_ctx <= 0) model_flags.n_ctx = 512;
  LATHE_ASSIGN_OR_RETURN(LoadedModel loaded, load_model(model_flags, log));
  if (model_flags.verbose) print_model_summary(loaded, stderr);
  runtime::Context& ctx = *loaded.context;
  const tokenizer::Tokenizer& tok = *loaded.tokenizer;
  const int64_t n_ctx = ctx.params().n_ctx;
  const int64_t n_vocab = ctx.n_vocab();

  Stopwatch tokenize_timer;
  std::vector<int32_t> tokens = tok.encode(text, /*add_special=*/true, /*parse_special=*/false);
  std::fprintf(stderr, "perplexity: tokenized %zu bytes into %zu tokens in %.2f s\n", text.size(),
               tokens.size(), tokenize_timer.elapsed_s());
  if (static_cast<int64_t>(tokens.size()) < 2 * n_ctx) {
    return invalid_argument("the text has ", tokens.size(), " tokens; at least 2 × ", n_ctx,
                            " = ", 2 * n_ctx, " are needed (use a smaller -c or a longer text)");
  }
  int64_t n_chunks = static_cast<int64_t>(tokens.size()) / n_ctx;
  if (opt.chunks > 0) n_chunks = std::min<int64_t>(n_chunks, opt.chunks);
  // As llama-perplexity: the first half of each chunk is context, the second half is scored.
  const int64_t first = n_ctx / 2;
  std::fprintf(stderr, "perplexity: %" PRId64 " chunks of %" PRId64 " tokens, scoring the last %" PRId64
               " of each\n", n_chunks, n_ctx, n_ctx - first - 1);

  double nll = 0.0;
  double nll2 = 0.0;
  int64_t count = 0;
  Stopwatch timer;
  runtime::Batch batch;
  batch.reserve(static_cast<size_t>(n_ctx));
  for (int64_t chunk = 0; chunk < n_chunks; ++chunk) {
    const int64_t start = chunk * n_ctx;
    ctx.kv().clear();
    batch.clear();
    for (int64_t k = 0; k < n_ctx; ++k) {
      int32_t token = tokens[static_cast<size_t>(start + k)];
      if (k == 0 && tok.add_bos() && tok.bos() >= 0) token = tok.bos();
      batch.add(token, static_cast<int32_t>(k), {0}, k >= first);
    }
    LATHE_RETURN_IF_ERROR(ctx.decode(batch));
    for (int64_t k = first; k < n_ctx - 1; ++k) {
      const double v = negative_log_prob(ctx.logits(static_cast<size_t>(k)), n_vocab,
                                         tokens[static_cast<size_t>(start + k + 1)]);
      nll += v;
      nll2 += v * v;
      ++count;
    }
    if (chunk == 0) {
      std::fprintf(stderr, "perplexity: %.2f s per chunk, about %.1f s in all\n", timer.elapsed_s(),
                   timer.elapsed_s() * static_cast<double>(n_chunks));
    }
    std::printf("[%" PRId64 "]%.4f,", chunk + 1, std::exp(nll / static_cast<double>(count)));
    std::fflush(stdout);
  }
  std::printf("\n");
  const double mean = nll / static_cast<double>(count);
  const double ppl = std::exp(mean);
  double variance = nll2 / static_cast<double>(count) - mean * mean;
  const double error = variance > 0 ? std::sqrt(variance / static_cast<double>(count - 1)) * ppl : 0.0;
  std::printf("Final estimate: PPL = %.4f +/- %.5f\n", ppl, error);
  const double seconds = timer.elapsed_s();
  std::fprintf(stderr, "perplexity: %s\n",
               rate_text(n_chunks * n_ctx, seconds).c_str());
  return Status();
}

}  // namespace

int run_perplexity(int argc, char** argv) {
  ModelFlags model_flags;
  model_flags.n_ctx = 512;
  PerplexityOptions opt;
  ArgParser args("perplexity",
                 "Computes the perplexity of a model over a text, as llama-perplexity does: chunks "
                 "of -c tokens, each starting with BOS, the second half of each chunk scored.");
  add_model_flags(args, model_flags);
  args.option({"-f", "--file"}, "FILE", "the text (e.g. wikitext-2 test set)", &opt.text_file);
  args.option({"--chunks"}, "N", "score at most N chunks (default: all)", &opt.chunks);
  Status status = args.parse(argc, argv);
  if (!status.ok()) return fail("perplexity", status.message());
  if (args.help_requested()) {
    std::fputs(args.help().c_str(), stdout);
    return 0;
  }
  status = perplexity(model_flags, opt);
  if (!status.ok()) return fail("perplexity", status.message());
  return 0;
}

}  // namespace lathe::cli
