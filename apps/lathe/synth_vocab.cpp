#include "synth_vocab.h"

#include <cstdio>
#include <string_view>

namespace lathe::cli {

namespace {

using model::synth::VocabStyle;

constexpr int32_t kNormal = 1;
constexpr int32_t kUnknown = 2;
constexpr int32_t kControl = 3;
constexpr int32_t kByte = 6;

// English letters by frequency, so the early (lowest-rank) merges are the likely ones.
constexpr std::string_view kAlphabet = "etaoinshrdlcumwfgypbvkjxqz";

void append_utf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string utf8(uint32_t cp) {
  std::string s;
  append_utf8(cp, s);
  return s;
}

// GPT-2's bytes_to_unicode, in its order: the printable bytes map to themselves and come first,
// the others map to U+0100 onwards. Real byte-level BPE vocabularies start with these 256.
std::vector<std::string> gpt2_byte_tokens() {
  std::vector<std::string> tokens;
  std::vector<bool> printable(256, false);
  for (int b = '!'; b <= '~'; ++b) printable[b] = true;
  for (int b = 0xA1; b <= 0xAC; ++b) printable[b] = true;
  for (int b = 0xAE; b <= 0xFF; ++b) printable[b] = true;
  for (int b = 0; b < 256; ++b) {
    if (printable[b]) tokens.push_back(utf8(static_cast<uint32_t>(b)));
  }
  uint32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    if (!printable[b]) tokens.push_back(utf8(next++));
  }
  return tokens;
}

struct Special {
  std::vector<std::string> texts;
  bool at_start = false;
  int bos = -1, eos = -1, pad = -1;  // indexes into texts
  bool add_bos = false;
  std::string chat_template;
};

Special specials_for(VocabStyle style) {
  Special s;
  switch (style) {
    case VocabStyle::kBpeLlama3:
      s.texts = {"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                 "<|eot_id|>"};
      s.bos = 0;
      s.eos = 4;
      s.add_bos = true;
      s.chat_template =
          "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + "
          "message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + "
          "'<|eot_id|>' }}{%- endfor %}{%- if add_generation_prompt %}{{- "
          "'<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";
      break;
    case VocabStyle::kBpeQwen2:
    case VocabStyle::kBpeSmollm:
      s.texts = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
      s.at_start = style == VocabStyle::kBpeSmollm;  // SmolLM2's specials are ids 0..2
      s.bos = 0;
      s.eos = 2;
      s.pad = 0;
      s.add_bos = false;
      s.chat_template =
          "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + "
          "message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt "
          "%}{{- '<|im_start|>assistant\\n' }}{%- endif %}";
      break;
    case VocabStyle::kSpm:
      break;
  }
  return s;
}

// Appends multi-character pieces, shortest first, until `count` are made: "<space>c" and "cc"
// first, then every piece so far extended by one letter. Each piece is its parent plus one
// letter, so the merge "parent letter" always joins two existing tokens.
void grow_pieces(std::string_view space, int64_t count, std::vector<std::string>& tokens,
                 std::vector<std::string>* merges) {
  std::vector<std::string> frontier;
  auto add = [&](const std::string& left, const std::string& right) {
    if (count <= 0) return false;
    tokens.push_back(left + right);
    if (merges != nullptr) merges->push_back(left + " " + right);
    frontier.push_back(left + right);
    --count;
    return true;
  };
  const std::string sp(space);
  for (char c : kAlphabet) {
    if (!add(sp, std::string(1, c))) return;
  }
  for (char a : kAlphabet) {
    for (char b : kAlphabet) {
      if (!add(std::string(1, a), std::string(1, b))) return;
    }
  }
  size_t level_begin = 0;
  while (count > 0) {
    const size_t level_end = frontier.size();
    for (size_t i = level_begin; i < level_end; ++i) {
      const std::string parent = frontier[i];  // copy: add() grows frontier
      for (char c : kAlphabet) {
        if (!add(parent, std::string(1, c))) return;
      }
    }
    level_begin = level_end;
  }
}

}  // namespace

int64_t min_generated_vocab(VocabStyle style) {
  if (style == VocabStyle::kSpm) return 3 + 256 + 1 + static_cast<int64_t>(kAlphabet.size());
  return 256 + static_cast<int64_t>(specials_for(style).texts.size()) + 1;
}

Expected<SynthVocab> generate_vocab(VocabStyle style, int64_t n_tokens) {
  if (n_tokens < min_generated_vocab(style)) {
    return invalid_argument("a generated ", model::synth::vocab_style_name(style),
                            " vocabulary needs at least ", min_generated_vocab(style),
                            " tokens, got ", n_tokens);
  }
  SynthVocab v;
  v.tokens.reserve(static_cast<size_t>(n_tokens));
  if (style == VocabStyle::kSpm) {
    v.model = "llama";
    v.pre = "default";
    v.tokens = {"<unk>", "<s>", "</s>"};
    v.types = {kUnknown, kControl, kControl};
    for (int b = 0; b < 256; ++b) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "<0x%02X>", b);
      v.tokens.push_back(hex);
      v.types.push_back(kByte);
    }
    const std::string space = utf8(0x2581);  // ▁, SentencePiece's word-start mark
    v.tokens.push_back(space);
    for (char c : kAlphabet) v.tokens.push_back(std::string(1, c));
    grow_pieces(space, n_tokens - static_cast<int64_t>(v.tokens.size()), v.tokens, nullptr);
    v.types.resize(v.tokens.size(), kNormal);
    // SentencePiece merges the pair whose piece scores highest: earlier (shorter) pieces win.
    v.scores.resize(v.tokens.size(), 0.0f);
    for (size_t i = 259; i < v.tokens.size(); ++i) v.scores[i] = -static_cast<float>(i - 259);
    v.unk = 0;
    v.bos = 1;
    v.eos = 2;
    v.add_bos = true;
    return v;
  }

  const Special special = specials_for(style);
  v.model = "gpt2";
  v.pre = style == VocabStyle::kBpeLlama3  ? "llama-bpe"
          : style == VocabStyle::kBpeQwen2 ? "qwen2"
                                           : "smollm";
  const int64_t n_special = static_cast<int64_t>(special.texts.size());
  if (special.at_start) {
    for (const auto& t : special.texts) {
      v.tokens.push_back(t);
      v.types.push_back(kControl);
    }
  }
  for (auto& t : gpt2_byte_tokens()) {
    v.tokens.push_back(std::move(t));
    v.types.push_back(kNormal);
  }
  const int64_t pieces =
      n_tokens - static_cast<int64_t>(v.tokens.size()) - (special.at_start ? 0 : n_special);
  grow_pieces(utf8(0x0120), pieces, v.tokens, &v.merges);  // Ġ: GPT-2's mark for a space byte
  v.types.resize(v.tokens.size(), kNormal);
  const int64_t first_special = special.at_start ? 0 : static_cast<int64_t>(v.tokens.size());
  if (!special.at_start) {
    for (const auto& t : special.texts) {
      v.tokens.push_back(t);
      v.types.push_back(kControl);
    }
  }
  v.bos = first_special + special.bos;
  v.eos = first_special + special.eos;
  if (special.pad >= 0) v.pad = first_special + special.pad;
  v.add_bos = special.add_bos;
  v.chat_template = special.chat_template;
  return v;
}

void write_vocab(const SynthVocab& v, gguf::Writer& w) {
  w.set_string("tokenizer.ggml.model", v.model);
  w.set_string("tokenizer.ggml.pre", v.pre);
  w.set_string_array("tokenizer.ggml.tokens", v.tokens);
  if (!v.scores.empty()) w.set_f32_array("tokenizer.ggml.scores", v.scores);
  w.set_i32_array("tokenizer.ggml.token_type", v.types);
  if (!v.merges.empty()) w.set_string_array("tokenizer.ggml.merges", v.merges);
  if (v.bos >= 0) w.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos));
  if (v.eos >= 0) w.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eos));
  if (v.unk >= 0) w.set_u32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(v.unk));
  if (v.pad >= 0) w.set_u32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(v.pad));
  w.set_bool("tokenizer.ggml.add_bos_token", v.add_bos);
  if (v.model == "llama") w.set_bool("tokenizer.ggml.add_eos_token", false);
  if (!v.chat_template.empty()) w.set_string("tokenizer.chat_template", v.chat_template);
}

}  // namespace lathe::cli
