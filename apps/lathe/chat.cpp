// `lathe chat`: an interactive conversation that keeps the KV cache across turns, so each turn
// processes only its new tokens.
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <iostream>

#include "chat/chat_template.h"
#include "commands.h"
#include "common.h"
#include "core/timer.h"

namespace lathe::cli {

namespace {

struct ChatOptions {
  std::string chat_template;
  std::string system_prompt;
  int n_predict = -1;
};

// Reads one message: a line, or several when lines end with a backslash. False at end of input.
bool read_message(std::string& out, bool interactive) {
  out.clear();
  std::string line;
  while (true) {
    if (interactive) {
      std::fputs(out.empty() ? "> " : "  ", stdout);
      std::fflush(stdout);
    }
    if (!std::getline(std::cin, line)) return !out.empty();
    if (!line.empty() && line.back() == '\\') {
      line.pop_back();
      out += line + "\n";
      continue;
    }
    out += line;
    return true;
  }
}

class ChatSession {
 public:
  ChatSession(LoadedModel& loaded, sampling::Sampler& sampler, chat::ChatTemplate tmpl,
              const ChatOptions& options, bool verbose)
      : loaded_(loaded),
        ctx_(*loaded.context),
        tok_(*loaded.tokenizer),
        sampler_(sampler),
        tmpl_(std::move(tmpl)),
        options_(options),
        verbose_(verbose) {
    reset();
  }

  void reset() {
    messages_.clear();
    if (!options_.system_prompt.empty()) messages_.push_back({"system", options_.system_prompt});
    processed_.clear();
    n_past_ = 0;
    ctx_.kv().clear();
    sampler_.reset();
  }

  // One user turn and the model's reply, streamed to stdout.
  Status turn(const std::string& user_text) {
    messages_.push_back({"user", user_text});
    LATHE_ASSIGN_OR_RETURN(chat::ChatDelta delta, tmpl_.render_delta(processed_, messages_, true));
    std::string text = delta.append;
    if (!delta.is_append) {
      // The template rewrote earlier turns: process the whole conversation again.
      ctx_.kv().clear();
      n_past_ = 0;
      processed_.clear();
      LATHE_ASSIGN_OR_RETURN(text, tmpl_.render(messages_, true));
    }
    std::vector<int32_t> tokens = tok_.encode(text, /*add_special=*/false, /*parse_special=*/true);
    const std::string bos_text = tok_.bos() >= 0 ? tok_.token_to_piece(tok_.bos(), true) : "";
    if (n_past_ == 0 && tok_.add_bos() && tok_.bos() >= 0 &&
        (bos_text.empty() || text.rfind(bos_text, 0) != 0)) {
      tokens.insert(tokens.begin(), tok_.bos());
    }
    const int64_t n_ctx = ctx_.params().n_ctx;
    if (n_past_ + static_cast<int64_t>(tokens.size()) >= n_ctx) {
      messages_.pop_back();
      return out_of_range("this message needs ", tokens.size(), " tokens but only ",
                          n_ctx - n_past_, " of the ", n_ctx,
                          "-token context are left (type /reset, or use a larger -c)");
    }
    Stopwatch prompt_timer;
    runtime::Batch batch;
    batch.add_sequence(tokens, n_past_, 0);
    LATHE_RETURN_IF_ERROR(ctx_.decode(batch));
    for (int32_t t : tokens) LATHE_RETURN_IF_ERROR(sampler_.accept(t));
    const double prompt_seconds = prompt_timer.elapsed_s();
    n_past_ += static_cast<int32_t>(tokens.size());
    processed_ += text;
    const float* logits = ctx_.logits(tokens.size() - 1);

    tokenizer::StreamingDetokenizer detok(tok_);
    std::string reply;
    Stopwatch gen_timer;
    int64_t generated = 0;
    bool context_full = false;
    while (options_.n_predict < 0 || generated < options_.n_predict) {
      LATHE_ASSIGN_OR_RETURN(int32_t token, sampler_.sample(std::span<const float>(
                                                logits, static_cast<size_t>(ctx_.n_vocab()))));
      LATHE_RETURN_IF_ERROR(sampler_.accept(token));
      ++generated;
      if (tok_.is_eog(token)) break;
      const std::string piece = detok.push(token);
      reply += piece;
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      if (n_past_ >= n_ctx) {
        context_full = true;
        break;
      }
      batch.clear();
      batch.add(token, n_past_++, {0}, true);
      LATHE_RETURN_IF_ERROR(ctx_.decode(batch));
      processed_ += tok_.token_to_piece(token, /*render_special=*/true);
      logits = ctx_.logits(0);
    }
    const std::string rest = detok.flush();
    reply += rest;
    std::fwrite(rest.data(), 1, rest.size(), stdout);
    std::fputs("\n", stdout);
    std::fflush(stdout);
    messages_.push_back({"assistant", reply});
    if (context_full) std::fprintf(stderr, "(the context is full: type /reset to start over)\n");
    if (verbose_) {
      std::fprintf(stderr, "[prompt: %s | generated: %s | context %d/%" PRId64 "]\n",
                   rate_text(static_cast<int64_t>(tokens.size()), prompt_seconds).c_str(),
                   rate_text(generated, gen_timer.elapsed_s()).c_str(), n_past_, n_ctx);
    }
    return Status();
  }

 private:
  LoadedModel& loaded_;
  runtime::Context& ctx_;
  const tokenizer::Tokenizer& tok_;
  sampling::Sampler& sampler_;
  chat::ChatTemplate tmpl_;
  const ChatOptions& options_;
  bool verbose_;
  std::vector<chat::ChatMessage> messages_;
  std::string processed_;  // exactly the text whose tokens are in the KV cache
  int32_t n_past_ = 0;
};

Expected<chat::ChatTemplate> choose_template(const LoadedModel& loaded, const ChatOptions& options,
                                             const Logger& log) {
  const auto& tok = *loaded.tokenizer;
  chat::ChatTemplateOptions topt;
  if (tok.bos() >= 0) topt.bos_token = tok.token_to_piece(tok.bos(), true);
  if (tok.eos() >= 0) topt.eos_token = tok.token_to_piece(tok.eos(), true);
  if (!options.chat_template.empty()) return chat::ChatTemplate::from_flag(options.chat_template, topt);
  const gguf::File& file = loaded.model->file();
  if (!file.has("tokenizer.chat_template")) {
    log.warn("the model has no chat template; using chatml (choose another with --chat-template)");
    return chat::ChatTemplate::from_name("chatml", topt);
  }
  LATHE_ASSIGN_OR_RETURN(std::string_view source, file.get_string("tokenizer.chat_template"));
  return chat::ChatTemplate::from_jinja(source, topt);
}

}  // namespace

int run_chat(int argc, char** argv) {
  ModelFlags model_flags;
  SamplingFlags sampling_flags;
  ChatOptions options;
  ArgParser args("chat", "Chats with a model. Type a message and press Enter (end a line with \\ "
                         "to continue it); /reset starts over; Ctrl-D exits.");
  add_model_flags(args, model_flags);
  args.option({"--chat-template"}, "NAME|FILE",
              "chat format: chatml, qwen3, llama2, llama3, llama3.1, phi3, gemma, zephyr, or a "
              "file holding a Jinja template (default: the model's own)",
              &options.chat_template);
  args.option({"-sys", "--system-prompt"}, "TEXT", "system message", &options.system_prompt);
  args.option({"-n", "--n-predict"}, "N", "most tokens per reply (default -1: until end of turn)",
              &options.n_predict);
  add_sampling_flags(args, sampling_flags);
  Status status = args.parse(argc, argv);
  if (!status.ok()) return fail("chat", status.message());
  if (args.help_requested()) {
    std::fputs(args.help().c_str(), stdout);
    return 0;
  }
  const Logger log(model_flags.verbose ? LogLevel::kInfo : LogLevel::kWarn, stderr);
  auto loaded = load_model(model_flags, log);
  if (!loaded) return fail("chat", loaded.error().message());
  if (model_flags.verbose) print_model_summary(*loaded, stderr);
  auto sampler = make_sampler(sampling_flags, static_cast<int32_t>(loaded->context->n_vocab()));
  if (!sampler) return fail("chat", sampler.error().message());
  auto tmpl = choose_template(*loaded, options, log);
  if (!tmpl) return fail("chat", tmpl.error().message());
  if (model_flags.verbose) std::fprintf(stderr, "chat template: %s\n", tmpl->describe().c_str());

  const bool interactive = ::isatty(STDIN_FILENO) != 0;
  ChatSession session(*loaded, *sampler, std::move(tmpl).value(), options, model_flags.verbose);
  std::string message;
  while (read_message(message, interactive)) {
    if (message == "/reset") {
      session.reset();
      std::fputs("(conversation reset)\n", stdout);
      continue;
    }
    if (message == "/exit" || message == "/quit") break;
    if (message.find_first_not_of(" \t\r\n") == std::string::npos) continue;
    Status turn = session.turn(message);
    if (!turn.ok()) std::fprintf(stderr, "lathe chat: %s\n", turn.message().c_str());
  }
  if (interactive) std::fputs("\n", stdout);
  return 0;
}

}  // namespace lathe::cli
