// Each renderer below reproduces one family of real templates; the comments name the template
// constructs they mirror, since those (not readability) decide every character of the output.
#include "chat/chat_formats.h"

#include <cstdint>

namespace lathe::chat::internal {
namespace {

bool is_py_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// Decodes the UTF-8 character starting at s[i]; returns its length, or 0 when malformed.
size_t decode_at(std::string_view s, size_t i, uint32_t* cp) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t lead = b(i);
  size_t len = 0;
  uint32_t value = 0;
  if (lead < 0x80) {
    *cp = lead;
    return 1;
  } else if ((lead & 0xE0) == 0xC0) {
    len = 2;
    value = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    len = 3;
    value = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    len = 4;
    value = lead & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    value = (value << 6) | (b(i + k) & 0x3F);
  }
  *cp = value;
  return len;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}
bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Python's s.split(sep)[-1] and s.split(sep)[0].
std::string_view after_last(std::string_view s, std::string_view sep) {
  const size_t pos = s.rfind(sep);
  return pos == std::string_view::npos ? s : s.substr(pos + sep.size());
}
std::string_view before_first(std::string_view s, std::string_view sep) {
  return s.substr(0, s.find(sep));
}

Status check_roles(std::span<const ChatMessage> messages) {
  if (messages.empty()) return invalid_argument("chat template: no messages to render");
  for (const ChatMessage& m : messages) {
    if (m.role != "system" && m.role != "user" && m.role != "assistant") {
      return invalid_argument("chat template: role '", m.role,
                              "' is not supported (system, user or assistant)");
    }
  }
  return Status::ok_status();
}

Status alternation_error(std::string_view format) {
  // The real templates raise "Conversation roles must alternate user/assistant/user/assistant/...".
  return invalid_argument("chat template ", format,
                          ": conversation roles must alternate user/assistant/user/assistant "
                          "after an optional first system message");
}

// SmolLM2, Qwen2.5, Hermes: '<|im_start|>' + role + '\n' + content + '<|im_end|>\n'. SmolLM2 and
// Qwen2.5 insert their default system turn when the first message is not a system one.
std::string render_chatml(const ChatTemplate::Spec& spec, std::span<const ChatMessage> messages,
                          bool add_generation_prompt) {
  std::string out;
  if (spec.has_default_system && messages.front().role != "system") {
    out += "<|im_start|>system\n" + spec.default_system + "<|im_end|>\n";
  }
  for (const ChatMessage& m : messages) {
    out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

// Qwen3: an assistant turn after the last user query keeps (or gains) its <think> block; earlier
// assistant turns lose it: content.split('</think>')[-1].lstrip('\n').
std::string render_qwen3(std::span<const ChatMessage> messages, bool add_generation_prompt,
                         bool enable_thinking) {
  // ns.last_query_index: the last user message that is not a wrapped tool response.
  size_t last_query = messages.size() - 1;
  for (size_t i = messages.size(); i-- > 0;) {
    const std::string_view c = messages[i].content;
    if (messages[i].role == "user" &&
        !(starts_with(c, "<tool_response>") && ends_with(c, "</tool_response>"))) {
      last_query = i;
      break;
    }
  }
  std::string out;
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "user" || m.role == "system") {
      out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      continue;
    }
    std::string_view content = m.content;
    std::string_view reasoning;
    if (content.find("</think>") != std::string_view::npos) {
      content = lstrip_char(after_last(m.content, "</think>"), '\n');
      reasoning = lstrip_char(
          after_last(rstrip_char(before_first(m.content, "</think>"), '\n'), "<think>"), '\n');
    }
    out += "<|im_start|>assistant\n";
    const bool last = i + 1 == messages.size();
    if (i > last_query && (last || !reasoning.empty())) {
      out += "<think>\n";
      out += strip_char(reasoning, '\n');
      out += "\n</think>\n\n";
      out += lstrip_char(content, '\n');
    } else {
      out += content;
    }
    out += "<|im_end|>\n";
  }
  if (add_generation_prompt) {
    out += "<|im_start|>assistant\n";
    if (!enable_thinking) out += "<think>\n\n</think>\n\n";
  }
  return out;
}

// Llama 2 chat: a first system message becomes '<<SYS>>\n' + system + '\n<</SYS>>\n\n' in front of
// the first user message, then content.strip() applies to that whole string. Every user turn is
// bos_token + '[INST] ' + content + ' [/INST]'; every assistant turn ' ' + content + ' ' + eos.
// There is no generation prompt: the prompt already ends with [/INST].
Expected<std::string> render_llama2(const ChatTemplateOptions& opt,
                                    std::span<const ChatMessage> messages) {
  std::span<const ChatMessage> loop = messages;
  const ChatMessage* system = nullptr;
  if (messages.front().role == "system") {
    system = &messages.front();
    loop = messages.subspan(1);
  }
  std::string out;
  for (size_t i = 0; i < loop.size(); ++i) {
    const ChatMessage& m = loop[i];
    if ((m.role == "user") != (i % 2 == 0)) return alternation_error("llama2");
    std::string content = m.content;
    if (i == 0 && system != nullptr) {
      content = "<<SYS>>\n" + system->content + "\n<</SYS>>\n\n" + m.content;
    }
    if (m.role == "user") {
      out += opt.bos_token + "[INST] " + std::string(py_strip(content)) + " [/INST]";
    } else if (m.role == "assistant") {
      out += " " + std::string(py_strip(content)) + " " + opt.eos_token;
    }
    // A later system message passes the alternation check at odd positions and is not rendered.
  }
  return out;
}

std::string llama3_turn(std::string_view role, std::string_view content) {
  std::string out = "<|start_header_id|>";
  out += role;
  out += "<|end_header_id|>\n\n";
  out += py_strip(content);
  out += "<|eot_id|>";
  return out;
}

// Llama 3: bos_token before the first turn; every turn's content | trim.
std::string render_llama3(const ChatTemplateOptions& opt, std::span<const ChatMessage> messages,
                          bool add_generation_prompt) {
  std::string out = opt.bos_token;
  for (const ChatMessage& m : messages) out += llama3_turn(m.role, m.content);
  if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

// Llama 3.1-3.3: the system turn is always written, with the knowledge and current dates, then the
// trimmed system message (empty when there is none).
std::string render_llama31(const ChatTemplate::Spec& spec, const ChatTemplateOptions& opt,
                           std::span<const ChatMessage> messages, bool add_generation_prompt) {
  std::span<const ChatMessage> rest = messages;
  std::string_view system;
  if (messages.front().role == "system") {
    system = py_strip(messages.front().content);
    rest = messages.subspan(1);
  }
  std::string out = opt.bos_token;
  out += "<|start_header_id|>system<|end_header_id|>\n\n";
  out += "Cutting Knowledge Date: " + spec.knowledge_date + "\n";
  out += "Today Date: " + (opt.date_string.empty() ? spec.date_string : opt.date_string) + "\n\n";
  out += system;
  out += "<|eot_id|>";
  for (const ChatMessage& m : rest) out += llama3_turn(m.role, m.content);
  if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

// Phi-3.5: '<|role|>\n' + content + '<|end|>\n'; an empty system message is skipped; without a
// generation prompt the template ends with eos_token.
std::string render_phi3(const ChatTemplateOptions& opt, std::span<const ChatMessage> messages,
                        bool add_generation_prompt) {
  std::string out;
  for (const ChatMessage& m : messages) {
    if (m.role == "system" && m.content.empty()) continue;
    out += "<|" + m.role + "|>\n" + m.content + "<|end|>\n";
  }
  out += add_generation_prompt ? std::string("<|assistant|>\n") : opt.eos_token;
  return out;
}

// Gemma 3: no system role; first_user_prefix = system + '\n\n' opens the first turn, untrimmed,
// before the first message's content | trim. The assistant is called "model".
Expected<std::string> render_gemma(const ChatTemplate::Spec& spec, const ChatTemplateOptions& opt,
                                   std::span<const ChatMessage> messages,
                                   bool add_generation_prompt) {
  std::span<const ChatMessage> loop = messages;
  std::string prefix;
  if (messages.front().role == "system") {
    prefix = messages.front().content + "\n\n";
    loop = messages.subspan(1);
  }
  std::string out = spec.emit_bos ? opt.bos_token : std::string();
  for (size_t i = 0; i < loop.size(); ++i) {
    const ChatMessage& m = loop[i];
    if ((m.role == "user") != (i % 2 == 0)) return alternation_error("gemma");
    out += "<start_of_turn>";
    out += m.role == "assistant" ? std::string_view("model") : std::string_view(m.role);
    out += "\n";
    if (i == 0) out += prefix;
    out += py_strip(m.content);
    out += "<end_of_turn>\n";
  }
  if (add_generation_prompt) out += "<start_of_turn>model\n";
  return out;
}

// Zephyr / TinyLlama: '<|role|>\n' + content + eos_token, each followed by the newline the template
// keeps after its {{ }} expression (trim_blocks removes only the ones after {% %} tags).
std::string render_zephyr(const ChatTemplateOptions& opt, std::span<const ChatMessage> messages,
                          bool add_generation_prompt) {
  std::string out;
  for (const ChatMessage& m : messages) {
    out += "<|" + m.role + "|>\n" + m.content + opt.eos_token + "\n";
  }
  if (add_generation_prompt) out += "<|assistant|>\n";
  return out;
}

}  // namespace

std::string_view py_strip(std::string_view s) {
  size_t begin = 0;
  while (begin < s.size()) {
    uint32_t cp = 0;
    const size_t len = decode_at(s, begin, &cp);
    if (len == 0 || !is_py_space(cp)) break;
    begin += len;
  }
  size_t end = s.size();
  while (end > begin) {
    // Back up to the lead byte of the last character.
    size_t start = end - 1;
    while (start > begin && (static_cast<uint8_t>(s[start]) & 0xC0) == 0x80 && end - start < 4) {
      --start;
    }
    uint32_t cp = 0;
    const size_t len = decode_at(s, start, &cp);
    if (len == 0 || start + len != end || !is_py_space(cp)) break;
    end = start;
  }
  return s.substr(begin, end - begin);
}

std::string_view lstrip_char(std::string_view s, char ch) {
  const size_t pos = s.find_first_not_of(ch);
  return pos == std::string_view::npos ? std::string_view() : s.substr(pos);
}

std::string_view rstrip_char(std::string_view s, char ch) {
  const size_t pos = s.find_last_not_of(ch);
  return pos == std::string_view::npos ? std::string_view() : s.substr(0, pos + 1);
}

std::string_view strip_char(std::string_view s, char ch) {
  return rstrip_char(lstrip_char(s, ch), ch);
}

Expected<std::string> render_format(const ChatTemplate::Spec& spec,
                                    const ChatTemplateOptions& options,
                                    std::span<const ChatMessage> messages,
                                    bool add_generation_prompt) {
  LATHE_RETURN_IF_ERROR(check_roles(messages));
  switch (spec.format) {
    case ChatTemplate::Format::kChatML:
      return render_chatml(spec, messages, add_generation_prompt);
    case ChatTemplate::Format::kQwen3:
      return render_qwen3(messages, add_generation_prompt, options.enable_thinking);
    case ChatTemplate::Format::kLlama2:
      return render_llama2(options, messages);
    case ChatTemplate::Format::kLlama3:
      return render_llama3(options, messages, add_generation_prompt);
    case ChatTemplate::Format::kLlama31:
      return render_llama31(spec, options, messages, add_generation_prompt);
    case ChatTemplate::Format::kPhi3:
      return render_phi3(options, messages, add_generation_prompt);
    case ChatTemplate::Format::kGemma:
      return render_gemma(spec, options, messages, add_generation_prompt);
    case ChatTemplate::Format::kZephyr:
      return render_zephyr(options, messages, add_generation_prompt);
  }
  return internal_error("chat template: unknown format");
}

}  // namespace lathe::chat::internal
