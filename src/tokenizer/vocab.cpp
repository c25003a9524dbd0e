#include "tokenizer/vocab.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <limits>

#include "tokenizer/unicode.h"

namespace lathe::tokenizer {

uint32_t token_type_to_attr(int64_t type) {
  switch (static_cast<TokenType>(type)) {
    case TokenType::kUnknown:
      return attr::kUnknown;
    case TokenType::kUnused:
      return attr::kUnused;
    case TokenType::kNormal:
      return attr::kNormal;
    case TokenType::kControl:
      return attr::kControl;
    case TokenType::kUserDefined:
      return attr::kUserDefined;
    case TokenType::kByte:
      return attr::kByte;
    default:
      return attr::kUndefined;
  }
}

namespace {

constexpr std::string_view kPrefix = "tokenizer.ggml.";

// What a tokenizer.ggml.pre name selects, and the flags llama.cpp ties to it.
struct PreRule {
  std::string_view name;
  PreTokenizerType type;
  bool clean_spaces = true;
  bool ignore_merges = false;
  bool add_bos = false;
};

// The names llama.cpp maps to the pre-tokenizers implemented here (src/llama-vocab.cpp).
constexpr PreRule kPreRules[] = {
    {"default", PreTokenizerType::kDefault},
    {"llama3", PreTokenizerType::kLlama3, true, true, true},
    {"llama-v3", PreTokenizerType::kLlama3, true, true, true},
    {"llama-bpe", PreTokenizerType::kLlama3, true, true, true},
    {"falcon3", PreTokenizerType::kLlama3, true, true, true},
    {"falcon-h1", PreTokenizerType::kLlama3, true, true, true},
    {"pixtral", PreTokenizerType::kLlama3, true, true, true},
    {"midm-2.0", PreTokenizerType::kLlama3, true, true, true},
    {"lfm2", PreTokenizerType::kLlama3, true, true, true},
    {"jina-v5-nano", PreTokenizerType::kLlama3, true, true, true},
    {"dbrx", PreTokenizerType::kLlama3},
    {"smaug-bpe", PreTokenizerType::kLlama3},
    {"deepseek-llm", PreTokenizerType::kDeepseekLlm, false},
    {"gpt-2", PreTokenizerType::kGpt2},
    {"phi-2", PreTokenizerType::kGpt2},
    {"jina-es", PreTokenizerType::kGpt2},
    {"jina-de", PreTokenizerType::kGpt2},
    {"gigachat", PreTokenizerType::kGpt2},
    {"jina-v2-es", PreTokenizerType::kGpt2},
    {"jina-v2-de", PreTokenizerType::kGpt2},
    {"a.x-4.0", PreTokenizerType::kGpt2},
    {"mellum", PreTokenizerType::kGpt2},
    {"modern-bert", PreTokenizerType::kGpt2},
    {"jina-v1-en", PreTokenizerType::kGpt2},
    {"jina-v2-code", PreTokenizerType::kGpt2},
    {"roberta-bpe", PreTokenizerType::kGpt2},
    {"mpt", PreTokenizerType::kGpt2},
    {"olmo", PreTokenizerType::kGpt2},
    {"jais", PreTokenizerType::kGpt2},
    {"exaone4", PreTokenizerType::kGpt2},
    {"trillion", PreTokenizerType::kGpt2, false},
    {"granite-docling", PreTokenizerType::kGpt2, false},
    {"qwen2", PreTokenizerType::kQwen2, false},
    {"deepseek-r1-qwen", PreTokenizerType::kQwen2, false},
    {"kormo", PreTokenizerType::kQwen2, false},
    {"f2llmv2", PreTokenizerType::kQwen2, false},
    {"stablelm2", PreTokenizerType::kQwen2},
    {"megrez", PreTokenizerType::kQwen2},
    {"hunyuan", PreTokenizerType::kQwen2, false},
    {"solar-open", PreTokenizerType::kQwen2, false},
    {"starcoder", PreTokenizerType::kStarcoder},
    {"refact", PreTokenizerType::kStarcoder},
    {"command-r", PreTokenizerType::kStarcoder, false},
    {"smollm", PreTokenizerType::kStarcoder, false},
    {"codeshell", PreTokenizerType::kStarcoder},
    {"exaone", PreTokenizerType::kStarcoder},
    {"minerva-7b", PreTokenizerType::kStarcoder},
    {"mellum2", PreTokenizerType::kStarcoder},
};

// Token texts llama.cpp treats as end of generation (src/llama-vocab.cpp, "special_eog_ids").
constexpr std::string_view kEogTexts[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
};
constexpr std::string_view kEotTexts[] = {
    "<|eot_id|>",         "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
    "<|end_of_text|>",    "<EOT>",      "_<EOT>",  "[EOT]",         "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
};
constexpr std::string_view kEomTexts[] = {"<|eom_id|>"};
constexpr std::string_view kFimPreTexts[] = {"<|fim_prefix|>",  "<fim-prefix>", "<fim_prefix>",
                                             "<｜fim▁begin｜>", "<PRE>",        "▁<PRE>",
                                             "<|code_prefix|>", "<|prefix|>"};
constexpr std::string_view kFimSufTexts[] = {"<|fim_suffix|>",  "<fim-suffix>", "<fim_suffix>",
                                             "<｜fim▁hole｜>",  "<SUF>",        "▁<SUF>",
                                             "<|code_suffix|>", "<|suffix|>"};
constexpr std::string_view kFimMidTexts[] = {"<|fim_middle|>",  "<fim-middle>", "<fim_middle>",
                                             "<｜fim▁end｜>",   "<MID>",        "▁<MID>",
                                             "<|code_middle|>", "<|middle|>"};
constexpr std::string_view kFimPadTexts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>",
                                             "[PAD]"};
constexpr std::string_view kFimRepTexts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>",
                                             "<REPO>", "<reponame>"};
constexpr std::string_view kFimSepTexts[] = {"<|file_sep|>"};

template <size_t N>
bool one_of(std::string_view text, const std::string_view (&set)[N]) {
  return std::find(std::begin(set), std::end(set), text) != std::end(set);
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

Expected<VocabSpec::OptionalId> read_id(const gguf::File& file, std::string_view name) {
  const std::string key = std::string(kPrefix) + std::string(name);
  VocabSpec::OptionalId id;
  if (!file.has(key)) return id;
  LATHE_ASSIGN_OR_RETURN(id.value, file.get_integer(key));
  id.present = true;
  return id;
}

Expected<int> read_flag(const gguf::File& file, std::string_view name) {
  const std::string key = std::string(kPrefix) + std::string(name);
  if (!file.has(key)) return -1;
  LATHE_ASSIGN_OR_RETURN(bool value, file.get_bool(key));
  return value ? 1 : 0;
}

}  // namespace

Expected<VocabSpec> read_vocab_spec(const gguf::File& file) {
  VocabSpec spec;
  LATHE_ASSIGN_OR_RETURN(std::string_view model, file.get_string("tokenizer.ggml.model"));
  spec.model = std::string(model);
  LATHE_ASSIGN_OR_RETURN(std::string_view pre, file.get_string_or("tokenizer.ggml.pre", ""));
  spec.pre = std::string(pre);
  LATHE_ASSIGN_OR_RETURN(auto tokens, file.get_string_array("tokenizer.ggml.tokens"));
  spec.tokens.assign(tokens.begin(), tokens.end());

  if (const gguf::Value* scores = file.find("tokenizer.ggml.scores")) {
    // llama.cpp accepts float32 or int32 scores.
    if (scores->type() != gguf::ValueType::kArray ||
        (scores->array_type() != gguf::ValueType::kFloat32 &&
         scores->array_type() != gguf::ValueType::kInt32)) {
      return format_error(
          "key tokenizer.ggml.scores: expected array[float32] or array[int32], found ",
          scores->type_description());
    }
    spec.scores.resize(scores->array_size());
    for (uint64_t i = 0; i < scores->array_size(); ++i) {
      spec.scores[i] = static_cast<float>(scores->numeric_at(i));
    }
  }
  if (file.has("tokenizer.ggml.token_type")) {
    LATHE_ASSIGN_OR_RETURN(auto types, file.get_integer_array("tokenizer.ggml.token_type"));
    spec.types.resize(types.size());
    for (size_t i = 0; i < types.size(); ++i) {
      const int64_t t = types[i];
      spec.types[i] =
          (t < std::numeric_limits<int32_t>::min() || t > std::numeric_limits<int32_t>::max())
              ? 0
              : static_cast<int32_t>(t);
    }
  }
  if (file.has("tokenizer.ggml.merges")) {
    LATHE_ASSIGN_OR_RETURN(auto merges, file.get_string_array("tokenizer.ggml.merges"));
    spec.merges.assign(merges.begin(), merges.end());
  }

  struct IdKey {
    std::string_view name;
    VocabSpec::OptionalId VocabSpec::*field;
  };
  static constexpr IdKey kIds[] = {
      {"bos_token_id", &VocabSpec::bos},
      {"eos_token_id", &VocabSpec::eos},
      {"eot_token_id", &VocabSpec::eot},
      {"eom_token_id", &VocabSpec::eom},
      {"unknown_token_id", &VocabSpec::unk},
      {"seperator_token_id", &VocabSpec::sep},
      {"padding_token_id", &VocabSpec::pad},
      {"mask_token_id", &VocabSpec::mask},
      {"fim_pre_token_id", &VocabSpec::fim_pre},
      {"fim_suf_token_id", &VocabSpec::fim_suf},
      {"fim_mid_token_id", &VocabSpec::fim_mid},
      {"fim_pad_token_id", &VocabSpec::fim_pad},
      {"fim_rep_token_id", &VocabSpec::fim_rep},
      {"fim_sep_token_id", &VocabSpec::fim_sep},
      // Deprecated names of the FIM ids; later keys win, as in llama.cpp's loop.
      {"prefix_token_id", &VocabSpec::fim_pre},
      {"suffix_token_id", &VocabSpec::fim_suf},
      {"middle_token_id", &VocabSpec::fim_mid},
  };
  for (const auto& key : kIds) {
    LATHE_ASSIGN_OR_RETURN(auto id, read_id(file, key.name));
    if (id.present) spec.*(key.field) = id;
  }
  LATHE_ASSIGN_OR_RETURN(spec.add_bos, read_flag(file, "add_bos_token"));
  LATHE_ASSIGN_OR_RETURN(spec.add_eos, read_flag(file, "add_eos_token"));
  LATHE_ASSIGN_OR_RETURN(spec.add_space_prefix, read_flag(file, "add_space_prefix"));
  LATHE_ASSIGN_OR_RETURN(std::string_view name, file.get_string_or("general.name", ""));
  spec.general_name = std::string(name);
  LATHE_ASSIGN_OR_RETURN(std::string_view arch, file.get_string_or("general.architecture", ""));
  spec.architecture = std::string(arch);
  return spec;
}

Expected<Vocab> Vocab::from_gguf(const gguf::File& file, const Logger& logger) {
  LATHE_ASSIGN_OR_RETURN(VocabSpec spec, read_vocab_spec(file));
  return from_spec(spec, logger);
}

Expected<Vocab> Vocab::from_spec(const VocabSpec& spec, const Logger& logger) {
  Vocab v;
  v.model_ = spec.model;
  v.pre_ = spec.pre;
  if (spec.model == "llama") {
    v.type_ = VocabType::kSpm;
    v.special_.bos = 1;
    v.special_.eos = 2;
    v.special_.unk = 0;
    v.add_space_prefix_ = true;
    v.clean_spaces_ = false;
    v.add_bos_ = true;
  } else if (spec.model == "gpt2") {
    v.type_ = VocabType::kBpe;
    v.special_.bos = 11;  // llama.cpp's defaults for GPT-2 style vocabularies
    v.special_.eos = 11;
    v.clean_spaces_ = true;
    if (spec.pre.empty()) {
      logger.warn(
          "tokenizer: tokenizer.ggml.pre is missing, using the 'default' pre-tokenizer; "
          "tokenization may differ from the model's own (regenerate the GGUF)");
      v.pre_type_ = PreTokenizerType::kDefault;
    } else {
      const PreRule* rule = nullptr;
      for (const auto& r : kPreRules) {
        if (r.name == spec.pre) rule = &r;
      }
      if (rule == nullptr) {
        logger.warn("tokenizer: unknown pre-tokenizer '", spec.pre,
                    "', using the GPT-2 rule; tokenization may differ from the model's own");
        v.pre_type_ = PreTokenizerType::kGpt2;
      } else {
        v.pre_type_ = rule->type;
        v.clean_spaces_ = rule->clean_spaces;
        v.ignore_merges_ = rule->ignore_merges;
        v.add_bos_ = rule->add_bos;
      }
    }
  } else {
    return unsupported("tokenizer model '", spec.model,
                       "' is not supported (lathe handles 'llama' (SPM) and 'gpt2' (BPE))");
  }
  if (spec.add_space_prefix >= 0) v.add_space_prefix_ = spec.add_space_prefix != 0;

  const size_t n = spec.tokens.size();
  if (n == 0) return format_error("tokenizer.ggml.tokens is empty");
  if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return format_error("tokenizer.ggml.tokens has ", n, " entries, more than token ids can hold");
  }
  if (!spec.scores.empty() && spec.scores.size() < n) {
    return format_error("tokenizer.ggml.scores has ", spec.scores.size(), " entries for ", n,
                        " tokens");
  }
  if (!spec.types.empty() && spec.types.size() < n) {
    return format_error("tokenizer.ggml.token_type has ", spec.types.size(), " entries for ", n,
                        " tokens");
  }
  if (v.type_ == VocabType::kBpe && spec.merges.empty()) {
    return format_error("tokenizer.ggml.merges is missing or empty: a BPE vocabulary needs merges");
  }

  // One arena for all texts, so views stay valid however the Vocab moves.
  std::vector<std::string> empty_names;
  size_t arena_size = 0;
  for (size_t i = 0; i < n; ++i) {
    arena_size += spec.tokens[i].empty() ? 32 : spec.tokens[i].size();
  }
  for (const auto& m : spec.merges) arena_size += m.size();
  v.arena_.reserve(arena_size);
  const auto store = [&](std::string_view text) {
    const size_t at = v.arena_.size();
    v.arena_.insert(v.arena_.end(), text.begin(), text.end());
    return at;
  };
  std::vector<std::pair<size_t, size_t>> spans(n);
  for (size_t i = 0; i < n; ++i) {
    std::string text = spec.tokens[i];
    if (text.empty()) {
      logger.warn("tokenizer: empty token at index ", i);
      text = "[EMPTY_" + std::to_string(i) + "]";  // llama.cpp's name for it
    }
    spans[i] = {store(text), text.size()};
  }
  std::vector<std::pair<size_t, size_t>> merge_spans;
  merge_spans.reserve(spec.merges.size());
  for (const auto& m : spec.merges) merge_spans.emplace_back(store(m), m.size());

  v.tokens_.resize(n);
  v.ids_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    TokenData& t = v.tokens_[i];
    t.text = std::string_view(v.arena_.data() + spans[i].first, spans[i].second);
    t.score = spec.scores.empty() ? 0.0f : spec.scores[i];
    t.attrs = spec.types.empty() ? attr::kNormal : token_type_to_attr(spec.types[i]);
    if (!v.ids_.insert(t.text, static_cast<TokenId>(i))) {
      return format_error("tokenizer.ggml.tokens: token ", i, " repeats the text of token ",
                          v.ids_.find(t.text), " ('", t.text, "')");
    }
  }
  for (const auto& [at, size] : merge_spans) {
    const std::string_view line(v.arena_.data() + at, size);
    // The separator is the first space after the first byte (llama.cpp: find(' ', 1)).
    const size_t space = line.size() > 1 ? line.find(' ', 1) : std::string_view::npos;
    if (space == std::string_view::npos) {
      v.merges_.emplace_back(std::string_view(), std::string_view());  // keeps ranks aligned
      continue;
    }
    v.merges_.emplace_back(line.substr(0, space), line.substr(space + 1));
  }

  for (int b = 0; b < 256; ++b) {
    if (v.type_ == VocabType::kSpm) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
      TokenId id = v.find(hex);
      if (id == kNoToken) id = v.find(std::string_view(reinterpret_cast<const char*>(&b), 1));
      v.byte_tokens_[b] = id;
    } else {
      std::string ch;
      append_utf8(gpt2_byte_to_codepoint(static_cast<uint8_t>(b)), ch);
      v.byte_tokens_[b] = v.find(ch);
    }
  }

  // Special ids: defaults out of range are disabled; file values out of range keep the default.
  const auto n_ids = static_cast<int64_t>(n);
  struct IdSlot {
    std::string_view name;
    const VocabSpec::OptionalId& given;
    TokenId& id;
  };
  SpecialTokens& s = v.special_;
  const IdSlot slots[] = {
      {"bos", spec.bos, s.bos},
      {"eos", spec.eos, s.eos},
      {"eot", spec.eot, s.eot},
      {"eom", spec.eom, s.eom},
      {"unknown", spec.unk, s.unk},
      {"seperator", spec.sep, s.sep},
      {"padding", spec.pad, s.pad},
      {"mask", spec.mask, s.mask},
      {"fim_pre", spec.fim_pre, s.fim_pre},
      {"fim_suf", spec.fim_suf, s.fim_suf},
      {"fim_mid", spec.fim_mid, s.fim_mid},
      {"fim_pad", spec.fim_pad, s.fim_pad},
      {"fim_rep", spec.fim_rep, s.fim_rep},
      {"fim_sep", spec.fim_sep, s.fim_sep},
  };
  for (const auto& slot : slots) {
    if (slot.id != kNoToken && slot.id >= n_ids) {
      logger.warn("tokenizer: default ", slot.name, " token ", slot.id,
                  " is outside the vocabulary, disabling it");
      slot.id = kNoToken;
    }
    if (!slot.given.present) continue;
    const int64_t value = slot.given.value;
    if (value == -1 || value == 0xFFFFFFFFll) {
      // Converters write LLAMA_TOKEN_NULL (-1, or its uint32 form) for "none".
      logger.debug("tokenizer: ", slot.name, " token id is unset in the file");
    } else if (value < 0 || value >= n_ids) {
      logger.warn("tokenizer: ", slot.name, " token id ", value, " is outside the vocabulary of ",
                  n, " tokens; using ", slot.id);
    } else {
      slot.id = static_cast<TokenId>(value);
    }
  }
  if (spec.add_bos >= 0) v.add_bos_ = spec.add_bos != 0;
  if (spec.add_eos >= 0) v.add_eos_ = spec.add_eos != 0;
  v.special_.nl = v.byte_tokens_[static_cast<uint8_t>('\n')];
  if (v.special_.nl == kNoToken) v.special_.nl = v.special_.pad;

  // Ids named only by their text. llama.cpp takes whichever candidate its hash map yields first;
  // lathe takes the first text of the list that the vocabulary has (so "<|eot_id|>" before
  // "<|end_of_text|>", "<|im_end|>" before "<|endoftext|>"), which is deterministic and names the
  // end-of-turn token the chat formats mean.
  const auto mark_control = [&](TokenId id) {
    uint32_t& a = v.tokens_[static_cast<size_t>(id)].attrs;
    if ((a & attr::kControl) == 0) {
      logger.warn("tokenizer: token ", id, " '", v.text(id),
                  "' looks like a control token but is not typed so; treating it as control");
      a |= attr::kControl;
    }
  };
  const auto detect = [&](TokenId& slot, auto& texts) {
    if (slot != kNoToken) return;
    for (std::string_view text : texts) {
      const TokenId id = v.find(text);
      if (id != kNoToken) {
        slot = id;
        mark_control(id);
        return;
      }
    }
  };
  detect(s.eot, kEotTexts);
  detect(s.eom, kEomTexts);
  detect(s.fim_pre, kFimPreTexts);
  detect(s.fim_suf, kFimSufTexts);
  detect(s.fim_mid, kFimMidTexts);
  detect(s.fim_pad, kFimPadTexts);
  detect(s.fim_rep, kFimRepTexts);
  detect(s.fim_sep, kFimSepTexts);

  for (auto& t : v.tokens_) {
    if ((t.attrs & attr::kControl) != 0 && contains(t.text, "unused")) t.attrs |= attr::kUnused;
  }

  // End-of-generation set.
  std::vector<TokenId> eog;
  for (TokenId id : {s.fim_pad, s.fim_rep, s.fim_sep}) {
    if (id != kNoToken) eog.push_back(id);
  }
  for (TokenId id = 0; id < static_cast<TokenId>(n); ++id) {
    if (one_of(v.text(id), kEogTexts)) {
      eog.push_back(id);
      mark_control(id);
    }
  }
  for (TokenId id = 0; id < static_cast<TokenId>(n); ++id) {
    const std::string_view t = v.text(id);
    // gpt-oss: these frame the model's channels and are always rendered.
    if (t == "<|channel|>" || t == "<|message|>" || t == "<|start|>" || t == "<|constrain|>") {
      v.tokens_[static_cast<size_t>(id)].attrs = attr::kUserDefined;
    }
  }
  const auto in_eog = [&](TokenId id) {
    return std::find(eog.begin(), eog.end(), id) != eog.end();
  };
  for (auto [id, name] :
       {std::pair{s.eos, "eos"}, std::pair{s.eot, "eot"}, std::pair{s.eom, "eom"}}) {
    if (id != kNoToken && !in_eog(id)) {
      eog.push_back(id);
      logger.warn("tokenizer: the ", name, " token ", id,
                  " is not among the end-of-generation tokens; adding it");
    }
  }
  {
    // o200k_harmony and solar-open: "<|end|>" ends a message, not the generation, when the
    // vocabulary also has "<|return|>" and "<|call|>" (or "<|calls|>" and "<|flush|>").
    bool has_return = false, has_call = false, has_flush = false;
    TokenId end_id = kNoToken;
    for (TokenId id : eog) {
      const std::string_view t = v.text(id);
      if (t == "<|return|>") has_return = true;
      if (t == "<|call|>" || t == "<|calls|>") has_call = true;
      if (t == "<|flush|>") has_flush = true;
      if (t == "<|end|>") end_id = id;
    }
    if (end_id != kNoToken && has_call && (has_return || has_flush)) {
      std::erase(eog, end_id);
      v.tokens_[static_cast<size_t>(end_id)].attrs = attr::kUserDefined;
    }
    // Gemma 4 and PLaMo have an ordinary "</s>".
    bool normal_s = false;
    TokenId s_id = kNoToken;
    for (TokenId id : eog) {
      const std::string_view t = v.text(id);
      if (t == "<|tool_response>" || t == "<|plamo:eos|>") normal_s = true;
      if (t == "</s>") s_id = id;
    }
    if (normal_s && s_id != kNoToken) {
      std::erase(eog, s_id);
      v.tokens_[static_cast<size_t>(s_id)].attrs = attr::kNormal;
    }
  }
  std::sort(eog.begin(), eog.end());
  eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
  v.eog_ids_ = std::move(eog);

  // Tokens cut out of text before tokenization, longest first (ties: lower id first; llama.cpp's
  // unstable sort leaves ties in an unspecified order).
  for (TokenId id = 0; id < static_cast<TokenId>(n); ++id) {
    if (v.attrs(id) & (attr::kControl | attr::kUserDefined | attr::kUnknown)) {
      v.special_order_.push_back(id);
    }
  }
  std::stable_sort(v.special_order_.begin(), v.special_order_.end(),
                   [&](TokenId a, TokenId b) { return v.text(a).size() > v.text(b).size(); });

  // Per-model attributes llama.cpp sets by name (the GGUF has no field for them).
  std::string name = spec.general_name;
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto set_attr = [&](std::string_view text, uint32_t bit, bool on) {
    const TokenId id = v.find(text);
    if (id == kNoToken) return;
    uint32_t& a = v.tokens_[static_cast<size_t>(id)].attrs;
    a = on ? (a | bit) : (a & ~bit);
  };
  if (contains(spec.pre, "jina-v2-de") || contains(spec.pre, "jina-v2-es") ||
      contains(spec.pre, "jina-v2-code") || contains(spec.architecture, "nomic-bert-moe") ||
      contains(spec.architecture, "jina-bert-v3")) {
    set_attr("<mask>", attr::kLstrip, true);
  } else if (contains(name, "phi-3") || contains(name, "phi3")) {
    for (TokenId id : v.special_order_) v.tokens_[static_cast<size_t>(id)].attrs |= attr::kRstrip;
    set_attr("</s>", attr::kRstrip, true);
    for (std::string_view t : {"<unk>", "<s>", "<|endoftext|>"}) set_attr(t, attr::kRstrip, false);
  } else if (contains(name, "modern-bert")) {
    set_attr("[MASK]", attr::kLstrip, true);
  }
  return v;
}

bool Vocab::is_eog(TokenId id) const {
  return id != kNoToken && std::binary_search(eog_ids_.begin(), eog_ids_.end(), id);
}

}  // namespace lathe::tokenizer
