#include "chat/chat_template.h"

#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "chat/chat_formats.h"

namespace lathe::chat {
namespace {

using Format = ChatTemplate::Format;

struct NamedFormat {
  std::string_view name;
  Format format;
};

constexpr NamedFormat kFormats[] = {
    {"chatml", Format::kChatML}, {"qwen3", Format::kQwen3},      {"llama2", Format::kLlama2},
    {"llama3", Format::kLlama3}, {"llama3.1", Format::kLlama31}, {"phi3", Format::kPhi3},
    {"gemma", Format::kGemma},   {"zephyr", Format::kZephyr},
};

constexpr std::array<std::string_view, std::size(kFormats)> kNames = [] {
  std::array<std::string_view, std::size(kFormats)> names{};
  for (size_t i = 0; i < std::size(kFormats); ++i) names[i] = kFormats[i].name;
  return names;
}();

std::string names_list() {
  std::string out;
  for (std::string_view name : kNames) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

Status not_recognized(std::string_view why) {
  return unsupported("chat template not recognized: ", why,
                     "; choose a format with --chat-template NAME (", names_list(),
                     ") or --chat-template FILE");
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Undoes the escapes of a Jinja string literal (\n, \t, \\, \', \"). Real newlines pass through:
// templates stored in GGUFs often hold them unescaped.
std::string unescape_literal(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    const char next = s[++i];
    switch (next) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      default:
        out += next;  // \\, \', \"
    }
  }
  return out;
}

// Text between `start` and `end` when it sits inside one string literal: no quote, brace or
// concatenation in between. Used to lift constants (a default system prompt, a date) out of a
// template. Searches every occurrence of `start`.
bool find_literal_between(std::string_view src, std::string_view start, std::string_view end,
                          std::string* out) {
  for (size_t pos = src.find(start); pos != std::string_view::npos;
       pos = src.find(start, pos + 1)) {
    const size_t from = pos + start.size();
    const size_t to = src.find(end, from);
    if (to == std::string_view::npos) return false;
    const std::string_view inner = src.substr(from, to - from);
    if (inner.find_first_of("'\"{}+") != std::string_view::npos) continue;
    *out = unescape_literal(inner);
    return true;
  }
  return false;
}

// "<|im_start|>system\n...<|im_end|>" written as one literal: the default system prompt of
// SmolLM2 and Qwen2.5, which both insert it when the conversation has no system message.
bool find_default_system(std::string_view src, std::string* out) {
  for (std::string_view start :
       {std::string_view("<|im_start|>system\\n"), std::string_view("<|im_start|>system\n")}) {
    std::string text;
    if (find_literal_between(src, start, "<|im_end|>", &text) && !text.empty()) {
      *out = std::move(text);
      return true;
    }
  }
  return false;
}

Expected<ChatTemplate::Spec> detect(std::string_view src) {
  ChatTemplate::Spec spec;
  if (contains(src, "<|im_start|>")) {
    if (contains(src, "<|im_sep|>")) return not_recognized("Phi-4 format (<|im_sep|>)");
    if (contains(src, "<end_of_utterance>")) return not_recognized("SmolVLM format");
    if (contains(src, "</think>")) {
      // Qwen3 drops the reasoning of earlier turns with this exact construct; other reasoning
      // templates (QwQ, SmolLM3) also change the generation prompt or add metadata.
      if (contains(src, "split('</think>')") && contains(src, "reasoning_content") &&
          contains(src, "last_query_index")) {
        spec.format = Format::kQwen3;
        return spec;
      }
      return not_recognized("a ChatML template with <think> handling lathe does not reproduce");
    }
    spec.format = Format::kChatML;
    spec.has_default_system = find_default_system(src, &spec.default_system);
    return spec;
  }
  if (contains(src, "[INST]")) {
    if (contains(src, "<<SYS>>")) {
      spec.format = Format::kLlama2;
      return spec;
    }
    return not_recognized("a Mistral [INST] format");
  }
  if (contains(src, "<|assistant|>") && contains(src, "<|end|>")) {
    spec.format = Format::kPhi3;
    return spec;
  }
  if (contains(src, "<start_of_turn>")) {
    spec.format = Format::kGemma;
    spec.emit_bos = contains(src, "bos_token");
    return spec;
  }
  if (contains(src, "<|start_header_id|>") && contains(src, "<|end_header_id|>")) {
    if (!contains(src, "Cutting Knowledge Date")) {
      spec.format = Format::kLlama3;
      return spec;
    }
    spec.format = Format::kLlama31;
    std::string value;
    if (find_literal_between(src, "Cutting Knowledge Date: ", "\\n", &value)) {
      spec.knowledge_date = value;
    }
    if (find_literal_between(src, "date_string = \"", "\"", &value)) spec.date_string = value;
    return spec;
  }
  if (contains(src, "<|user|>") && contains(src, "<|assistant|>") && contains(src, "eos_token")) {
    spec.format = Format::kZephyr;
    return spec;
  }
  return not_recognized("no known format matches");
}

}  // namespace

std::span<const std::string_view> chat_template_names() {
  return kNames;
}

ChatTemplate::ChatTemplate(Spec spec, ChatTemplateOptions options)
    : spec_(std::move(spec)), options_(std::move(options)) {}

Expected<ChatTemplate> ChatTemplate::from_jinja(std::string_view source,
                                                ChatTemplateOptions options) {
  if (source.empty()) return not_recognized("the model has no tokenizer.chat_template");
  LATHE_ASSIGN_OR_RETURN(Spec spec, detect(source));
  return ChatTemplate(std::move(spec), std::move(options));
}

Expected<ChatTemplate> ChatTemplate::from_name(std::string_view name, ChatTemplateOptions options) {
  for (const NamedFormat& f : kFormats) {
    if (f.name == name) {
      Spec spec;
      spec.format = f.format;
      return ChatTemplate(std::move(spec), std::move(options));
    }
  }
  return invalid_argument("--chat-template: unknown format '", name, "' (formats: ", names_list(),
                          "; or pass a file holding a Jinja template)");
}

Expected<ChatTemplate> ChatTemplate::from_flag(std::string_view value,
                                               ChatTemplateOptions options) {
  for (const NamedFormat& f : kFormats) {
    if (f.name == value) return from_name(value, std::move(options));
  }
  std::error_code ec;
  const std::filesystem::path path{std::string(value)};
  if (!value.empty() && std::filesystem::is_regular_file(path, ec)) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in.good() && !in.eof()) {
      return io_error("--chat-template: cannot read '", value, "'");
    }
    auto tmpl = from_jinja(text.str(), std::move(options));
    if (!tmpl.has_value()) return tmpl.error().with_context(cat("--chat-template ", value));
    return tmpl;
  }
  // llama.cpp also takes the Jinja source itself as the value.
  if (contains(value, "{%") || contains(value, "{{")) return from_jinja(value, std::move(options));
  return invalid_argument("--chat-template: '", value, "' is neither a format (", names_list(),
                          ") nor a readable file");
}

std::string_view ChatTemplate::name() const {
  for (const NamedFormat& f : kFormats) {
    if (f.format == spec_.format) return f.name;
  }
  return "?";
}

std::string ChatTemplate::describe() const {
  std::string out(name());
  if (spec_.has_default_system)
    out += cat(" (default system prompt \"", spec_.default_system, "\")");
  if (spec_.format == Format::kLlama31) {
    out += cat(" (Today Date: ",
               options_.date_string.empty() ? spec_.date_string : options_.date_string, ")");
  }
  if (spec_.format == Format::kGemma && !spec_.emit_bos) out += " (no BOS)";
  return out;
}

Expected<std::string> ChatTemplate::render(std::span<const ChatMessage> messages,
                                           bool add_generation_prompt) const {
  return internal::render_format(spec_, options_, messages, add_generation_prompt);
}

Expected<ChatDelta> ChatTemplate::render_delta(std::string_view previous,
                                               std::span<const ChatMessage> messages,
                                               bool add_generation_prompt) const {
  LATHE_ASSIGN_OR_RETURN(std::string full, render(messages, add_generation_prompt));
  size_t keep = 0;
  const size_t limit = std::min(previous.size(), full.size());
  while (keep < limit && previous[keep] == full[keep]) ++keep;
  ChatDelta delta;
  delta.is_append = keep == previous.size();
  if (!delta.is_append) {
    // Never split a UTF-8 character: back up to the start of the one that differs.
    while (keep > 0 && (static_cast<unsigned char>(full[keep]) & 0xC0) == 0x80) --keep;
  }
  delta.keep = keep;
  delta.append = full.substr(keep);
  return delta;
}

}  // namespace lathe::chat
