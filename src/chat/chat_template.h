// Chat templates: turning a conversation into the prompt text a model was trained on.
//
// lathe does not run Jinja. It recognizes the format a GGUF's tokenizer.chat_template implements
// (heuristics in the spirit of llama.cpp's llm_chat_detect_template, plus the details that make a
// rendering exact: default system prompts, dates, reasoning blocks) and renders it with a small
// formatter per format. tests/chat pins every formatter to what Python's Jinja2 renders for the
// real templates (scripts/gen-chat-expectations.py).
//
//   ChatTemplateOptions opts{.bos_token = "<s>", .eos_token = "</s>"};   // the model's token texts
//   LATHE_ASSIGN_OR_RETURN(ChatTemplate tmpl, ChatTemplate::from_jinja(gguf_chat_template, opts));
//   // or ChatTemplate::from_flag(value_of_--chat-template, opts)
//   LATHE_ASSIGN_OR_RETURN(std::string prompt, tmpl.render(messages,
//   /*add_generation_prompt=*/true));
//
// The rendered text contains the special tokens as text (including the BOS text when the template
// writes it): tokenize it with special-token parsing on, and do not add another BOS when the text
// already starts with bos_token.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

namespace lathe::chat {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

struct ChatTemplateOptions {
  std::string bos_token;  // text of the model's BOS token, e.g. "<s>", "<|begin_of_text|>"
  std::string eos_token;  // text of the model's EOS token, e.g. "</s>"
  // "Today Date" of the Llama 3.1+ system header. Empty: the template's own fallback
  // ("26 Jul 2024"), which keeps prompts reproducible; llama.cpp passes today's date instead.
  std::string date_string;
  // Qwen3: false appends an empty <think></think> block after the generation prompt, as the
  // template does for enable_thinking=false.
  bool enable_thinking = true;
};

// The formats lathe renders, by the names --chat-template accepts.
//   chatml    <|im_start|>role\n...<|im_end|>\n (Qwen2.5, SmolLM2, Hermes; keeps a template's
//   default
//             system prompt when it has one)
//   qwen3     ChatML that drops <think> blocks from earlier assistant turns (Qwen3)
//   llama2    [INST] ... [/INST] with <<SYS>> in the first user turn (Llama 2 chat)
//   llama3    <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> (Llama 3)
//   llama3.1  llama3 with the "Cutting Knowledge Date / Today Date" system header (Llama 3.1-3.3)
//   phi3      <|user|>\n...<|end|>\n (Phi-3, Phi-3.5)
//   gemma     <start_of_turn>user / model; a system message is folded into the first user turn
//   zephyr    <|user|>\n...</s>\n (Zephyr, TinyLlama chat)
std::span<const std::string_view> chat_template_names();

// What render_delta() returns: the text to feed after what the model has already seen.
struct ChatDelta {
  size_t keep = 0;         // bytes of `previous` that are still valid
  std::string append;      // the text to process after those bytes
  bool is_append = false;  // keep == previous.size(): nothing already processed is invalid
};

class ChatTemplate {
 public:
  // Recognizes the format of a Jinja chat template (tokenizer.chat_template). An unrecognized or
  // unsupported template is an error whose message names --chat-template.
  static Expected<ChatTemplate> from_jinja(std::string_view source, ChatTemplateOptions options);
  // One of chat_template_names().
  static Expected<ChatTemplate> from_name(std::string_view name, ChatTemplateOptions options);
  // The value of --chat-template: a name, else a file holding a Jinja template, else (as llama.cpp
  // accepts) the Jinja source itself.
  static Expected<ChatTemplate> from_flag(std::string_view value, ChatTemplateOptions options);

  // The format's name (one of chat_template_names()).
  std::string_view name() const;
  // The name plus what was taken from the template, e.g. `chatml (default system prompt "...")`.
  std::string describe() const;
  const ChatTemplateOptions& options() const { return options_; }

  // Renders the conversation. add_generation_prompt appends the header of the assistant's turn.
  // Errors for an empty conversation, unknown roles, and the role orders the real template
  // rejects (Llama 2 and Gemma require user/assistant alternation).
  Expected<std::string> render(std::span<const ChatMessage> messages,
                               bool add_generation_prompt) const;

  // For a chat that keeps its KV cache across turns: `previous` is the exact text the model has
  // processed so far (the last prompt, the generated reply, and the end-of-turn token's text when
  // it was decoded). Renders `messages` and returns what follows the longest common prefix with
  // `previous`. When a template rewrites history (Qwen3 drops reasoning; Llama 2 and Gemma strip
  // whitespace) `previous` is not a prefix: is_append is false and the caller must drop what it
  // processed after `keep` bytes (rounded down to a token boundary) before feeding `append`.
  Expected<ChatDelta> render_delta(std::string_view previous, std::span<const ChatMessage> messages,
                                   bool add_generation_prompt) const;

  // Details taken from the template; public so tests and --verbose can show them.
  enum class Format : uint8_t {
    kChatML,
    kQwen3,
    kLlama2,
    kLlama3,
    kLlama31,
    kPhi3,
    kGemma,
    kZephyr
  };
  struct Spec {
    Format format = Format::kChatML;
    bool has_default_system = false;  // chatml: a system turn inserted when none is given
    std::string default_system;
    std::string knowledge_date = "December 2023";  // llama3.1
    std::string date_string = "26 Jul 2024";       // llama3.1, the template's fallback
    bool emit_bos = true;                          // gemma: Gemma 1's template has no BOS
  };
  const Spec& spec() const { return spec_; }

 private:
  ChatTemplate(Spec spec, ChatTemplateOptions options);

  Spec spec_;
  ChatTemplateOptions options_;
};

}  // namespace lathe::chat
