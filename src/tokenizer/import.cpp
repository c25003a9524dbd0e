#include "tokenizer/import.h"

#include <cstring>
#include <exception>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "tokenizer/unicode.h"

namespace lathe::tokenizer {

namespace {

using json = nlohmann::json;

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // "▁"

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  for (size_t pos = 0; pos < text.size();) {
    if (text.compare(pos, from.size(), from) == 0) {
      out.append(to);
      pos += from.size();
    } else {
      out.push_back(text[pos++]);
    }
  }
  return out;
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

Expected<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot open ", path);
  std::ostringstream s;
  s << in.rdbuf();
  if (!in.good() && !in.eof()) return io_error("cannot read ", path);
  return s.str();
}

}  // namespace

Expected<VocabSpec> vocab_from_llama2c(std::span<const uint8_t> bytes, int32_t vocab_size) {
  size_t pos = 0;
  const auto read = [&](void* out, size_t n) {
    if (bytes.size() - pos < n) return false;
    std::memcpy(out, bytes.data() + pos, n);
    pos += n;
    return true;
  };
  int32_t max_token_length = 0;
  if (!read(&max_token_length, 4)) return format_error("llama2.c tokenizer: no header");
  VocabSpec spec;
  spec.model = "llama";
  for (int32_t id = 0; vocab_size == 0 ? pos < bytes.size() : id < vocab_size; ++id) {
    float score = 0;
    int32_t length = 0;
    if (!read(&score, 4) || !read(&length, 4)) {
      return format_error("llama2.c tokenizer: truncated at token ", id, " of ", vocab_size);
    }
    if (length < 0 || static_cast<size_t>(length) > bytes.size() - pos) {
      return format_error("llama2.c tokenizer: token ", id, " claims ", length, " bytes, ",
                          bytes.size() - pos, " remain");
    }
    std::string text(reinterpret_cast<const char*>(bytes.data() + pos),
                     static_cast<size_t>(length));
    pos += static_cast<size_t>(length);
    // llama2.c's export decorates BOS/EOS as "\n<s>\n" and "\n</s>\n"; llama.cpp's converter
    // renames ids 0, 1 and 2 and types tokens by their text.
    TokenType type = TokenType::kNormal;
    if (id == 0) {
      text = "<unk>";
      type = TokenType::kUnknown;
    } else if (id == 1) {
      text = "<s>";
      type = TokenType::kControl;
    } else if (id == 2) {
      text = "</s>";
      type = TokenType::kControl;
    } else if (text.empty()) {
      type = TokenType::kControl;
    } else if (text.size() >= 4 && text.compare(0, 3, "<0x") == 0 && is_hex(text[3])) {
      type = TokenType::kByte;
    }
    spec.tokens.push_back(replace_all(text, " ", kSpmSpace));
    spec.scores.push_back(score);
    spec.types.push_back(static_cast<int32_t>(type));
  }
  if (spec.tokens.empty()) return format_error("llama2.c tokenizer: no tokens");
  spec.unk = {true, 0};
  spec.bos = {true, 1};
  spec.eos = {true, 2};
  return spec;
}

Expected<VocabSpec> vocab_from_llama2c_file(const std::string& path, int32_t vocab_size) {
  LATHE_ASSIGN_OR_RETURN(std::string bytes, read_file(path));
  auto spec = vocab_from_llama2c(
      std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), vocab_size);
  if (!spec) return spec.error().with_context(path);
  return spec;
}

Expected<HfTokenizerFiles> read_hf_tokenizer_dir(const std::string& dir) {
  HfTokenizerFiles files;
  LATHE_ASSIGN_OR_RETURN(files.tokenizer_json, read_file(dir + "/tokenizer.json"));
  if (auto config = read_file(dir + "/tokenizer_config.json"))
    files.tokenizer_config_json = *config;
  if (auto config = read_file(dir + "/config.json")) files.config_json = *config;
  return files;
}

namespace {

// The regular expressions of Hugging Face pre-tokenizers that lathe recognizes, and the
// tokenizer.ggml.pre llama.cpp uses for them.
struct KnownSplit {
  std::string_view regex;
  std::string_view pre;
};
constexpr KnownSplit kKnownSplits[] = {
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
     "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     "llama-bpe"},
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
     "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     "qwen2"},
};

// Finds the pre-tokenizer name, or "" when the setup is not one lathe knows.
std::string detect_pre(const json& pre_tokenizer, bool clean_up_spaces) {
  std::vector<json> steps;
  if (pre_tokenizer.is_object() && pre_tokenizer.value("type", "") == "Sequence" &&
      pre_tokenizer.contains("pretokenizers") && pre_tokenizer["pretokenizers"].is_array()) {
    for (const auto& s : pre_tokenizer["pretokenizers"]) steps.push_back(s);
  } else if (pre_tokenizer.is_object()) {
    steps.push_back(pre_tokenizer);
  }
  bool byte_level_regex = false;
  bool digits = false;
  std::string split;
  for (const auto& s : steps) {
    if (!s.is_object()) continue;
    const std::string type = s.value("type", "");
    if (type == "ByteLevel") {
      byte_level_regex = !s.contains("use_regex") || s["use_regex"] == true;
    } else if (type == "Digits") {
      digits = s.value("individual_digits", false);
    } else if (type == "Split" && s.contains("pattern") && s["pattern"].is_object() &&
               s["pattern"].contains("Regex") && s["pattern"]["Regex"].is_string()) {
      split = s["pattern"]["Regex"].get<std::string>();
    }
  }
  if (!split.empty()) {
    for (const auto& known : kKnownSplits) {
      if (split == known.regex) return std::string(known.pre);
    }
    return "";
  }
  if (digits && byte_level_regex) return clean_up_spaces ? "starcoder" : "smollm";
  if (byte_level_regex && steps.size() == 1) return "gpt-2";
  return "";
}

// The text of a *_token entry of tokenizer_config.json: a string or {"content": ...}.
std::string token_content(const json& entry) {
  if (entry.is_string()) return entry.get<std::string>();
  if (entry.is_object() && entry.contains("content") && entry["content"].is_string()) {
    return entry["content"].get<std::string>();
  }
  return "";
}

bool looks_special(const std::string& t) {
  const auto starts = [&](std::string_view p) { return t.compare(0, p.size(), p) == 0; };
  const auto ends = [&](std::string_view p) {
    return t.size() >= p.size() && t.compare(t.size() - p.size(), p.size(), p) == 0;
  };
  return t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]" ||
         (starts("<|") && ends("|>")) || (starts("<｜") && ends("｜>")) ||
         (starts("<unused") && ends(">"));
}

Expected<VocabSpec> vocab_from_hf_json(const HfTokenizerFiles& files,
                                       const HfImportOptions& options, const Logger& logger) {
  const json tok = json::parse(files.tokenizer_json, nullptr, false);
  if (tok.is_discarded() || !tok.is_object()) return format_error("tokenizer.json is not JSON");
  const json config = files.tokenizer_config_json.empty()
                          ? json::object()
                          : json::parse(files.tokenizer_config_json, nullptr, false);
  if (config.is_discarded()) return format_error("tokenizer_config.json is not JSON");
  const json model_config =
      files.config_json.empty() ? json::object() : json::parse(files.config_json, nullptr, false);
  if (model_config.is_discarded()) return format_error("config.json is not JSON");

  if (!tok.contains("model") || !tok["model"].is_object()) {
    return format_error("tokenizer.json has no model");
  }
  const json& model = tok["model"];
  const std::string model_type = model.value("type", "");
  if (model_type != "BPE") {
    return unsupported("tokenizer.json model '", model_type, "': only BPE is supported");
  }
  if (!model.contains("vocab") || !model["vocab"].is_object()) {
    return format_error("tokenizer.json: model.vocab is missing");
  }

  // id -> text from the model vocabulary and the added tokens.
  std::map<int64_t, std::string> by_id;
  int64_t base_size = 0;
  for (const auto& [text, id] : model["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0) {
      return format_error("tokenizer.json: token '", text, "' has no valid id");
    }
    by_id[id.get<int64_t>()] = text;
    base_size = std::max(base_size, id.get<int64_t>() + 1);
  }
  struct Added {
    std::string text;
    bool special = false;
  };
  std::map<int64_t, Added> added;
  if (tok.contains("added_tokens") && tok["added_tokens"].is_array()) {
    for (const auto& a : tok["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
          !a.contains("content") || !a["content"].is_string()) {
        return format_error("tokenizer.json: malformed added_tokens entry");
      }
      const int64_t id = a["id"].get<int64_t>();
      if (id < 0) return format_error("tokenizer.json: added token with id ", id);
      added[id] = Added{a["content"].get<std::string>(), a.value("special", false)};
      by_id[id] = added[id].text;
    }
  }
  const auto added_id_of = [&](const std::string& text) -> int64_t {
    for (const auto& [id, a] : added) {
      if (a.text == text) return id;
    }
    return -1;
  };

  VocabSpec spec;
  // Special ids: tokenizer_config names the tokens, added_tokens gives their ids; config.json's
  // *_token_id fill what is still missing (gguf-py's SpecialVocab order).
  struct SpecialSlot {
    const char* name;
    VocabSpec::OptionalId VocabSpec::*field;
  };
  static constexpr SpecialSlot kSlots[] = {{"bos", &VocabSpec::bos},  {"eos", &VocabSpec::eos},
                                           {"unk", &VocabSpec::unk},  {"sep", &VocabSpec::sep},
                                           {"pad", &VocabSpec::pad},  {"cls", &VocabSpec::cls},
                                           {"mask", &VocabSpec::mask}};
  std::set<int64_t> special_ids;
  for (const auto& slot : kSlots) {
    const std::string key = std::string(slot.name) + "_token";
    if (!config.contains(key)) continue;
    const std::string text = token_content(config[key]);
    const int64_t id = text.empty() ? -1 : added_id_of(text);
    if (id >= 0) {
      spec.*(slot.field) = {true, id};
      special_ids.insert(id);
    }
  }
  if (config.contains("additional_special_tokens") &&
      config["additional_special_tokens"].is_array()) {
    for (const auto& t : config["additional_special_tokens"]) {
      const int64_t id = added_id_of(token_content(t));
      if (id >= 0) special_ids.insert(id);
    }
  }
  if (config.empty()) {
    for (const auto& [id, a] : added) {
      if (a.special) special_ids.insert(id);
    }
  }
  for (const auto& slot : kSlots) {
    const std::string key = std::string(slot.name) + "_token_id";
    if (!(spec.*(slot.field)).present && model_config.contains(key) &&
        model_config[key].is_number_integer() && model_config[key].get<int64_t>() >= 0) {
      spec.*(slot.field) = {true, model_config[key].get<int64_t>()};
    }
  }

  // add_bos / add_eos: the post-processor's template first, then tokenizer_config.
  const auto bos_text = config.contains("bos_token") ? token_content(config["bos_token"]) : "";
  const auto eos_text = config.contains("eos_token") ? token_content(config["eos_token"]) : "";
  if (tok.contains("post_processor") && tok["post_processor"].is_object()) {
    const json& pp = tok["post_processor"];
    std::vector<json> processors;
    if (pp.contains("processors") && pp["processors"].is_array()) {
      for (const auto& p : pp["processors"]) processors.push_back(p);
    } else {
      processors.push_back(pp);
    }
    for (const auto& p : processors) {
      if (!p.is_object()) continue;
      const std::string type = p.value("type", "");
      if (type == "ByteLevel") {
        if (spec.add_bos < 0) spec.add_bos = 0;
        if (spec.add_eos < 0) spec.add_eos = 0;
      } else if (type == "TemplateProcessing" && p.contains("single") && p["single"].is_array() &&
                 p["single"].size() > 1) {
        const auto special_id = [](const json& item) -> std::string {
          if (item.is_object() && item.contains("SpecialToken") &&
              item["SpecialToken"].is_object()) {
            return item["SpecialToken"].value("id", "");
          }
          return "";
        };
        const std::string first = special_id(p["single"].front());
        const std::string last = special_id(p["single"].back());
        if (!first.empty()) spec.add_bos = first == bos_text || bos_text.empty() ? 1 : 0;
        if (!last.empty()) spec.add_eos = last == eos_text || eos_text.empty() ? 1 : 0;
      }
    }
  }
  for (auto [key, field] : {std::pair{"add_bos_token", &VocabSpec::add_bos},
                            std::pair{"add_eos_token", &VocabSpec::add_eos}}) {
    if (config.contains(key) && config[key].is_boolean() && spec.*field < 0) {
      spec.*field = config[key].get<bool>() ? 1 : 0;
    }
  }
  if (config.contains("add_prefix_space") && config["add_prefix_space"].is_boolean()) {
    spec.add_space_prefix = config["add_prefix_space"].get<bool>() ? 1 : 0;
  }
  if (config.contains("chat_template")) {
    if (config["chat_template"].is_string()) {
      spec.chat_template = config["chat_template"].get<std::string>();
    } else {
      logger.warn("tokenizer import: only a single string chat_template is carried over");
    }
  }

  const bool byte_fallback = model.value("byte_fallback", false);
  const bool sequence_decoder = tok.contains("decoder") && tok["decoder"].is_object() &&
                                tok["decoder"].value("type", "") == "Sequence";
  if (byte_fallback && sequence_decoder) {
    // LlamaHfVocab: base vocabulary in id order, then added tokens past it; every score -1000.
    spec.model = "llama";
    spec.pre = "default";
    int64_t n = base_size;
    for (const auto& [id, a] : added) n = std::max(n, id + 1);
    for (int64_t id = 0; id < n; ++id) {
      auto it = by_id.find(id);
      if (it == by_id.end()) return format_error("tokenizer.json: no token has id ", id);
      const std::string& text = it->second;
      TokenType type = TokenType::kNormal;
      const bool is_byte = text.size() == 6 && text.compare(0, 3, "<0x") == 0 && is_hex(text[3]) &&
                           is_hex(text[4]) && text[5] == '>';
      if (id < base_size) {
        if (is_byte) {
          type = TokenType::kByte;
        } else if (special_ids.count(id)) {
          type = TokenType::kControl;
        }
      } else {
        type = special_ids.count(id) ? TokenType::kControl : TokenType::kUserDefined;
      }
      spec.tokens.push_back(text);
      spec.scores.push_back(-1000.0f);
      spec.types.push_back(static_cast<int32_t>(type));
    }
    return spec;
  }

  // Byte-level BPE (convert_hf_to_gguf.py's _set_vocab_gpt2).
  spec.model = "gpt2";
  const bool clean_up = config.value("clean_up_tokenization_spaces", true);
  spec.pre =
      options.pre.empty() ? detect_pre(tok.value("pre_tokenizer", json()), clean_up) : options.pre;
  if (spec.pre.empty()) {
    return unsupported(
        "tokenizer.json: cannot tell which llama.cpp pre-tokenizer matches its "
        "pre_tokenizer; name one in HfImportOptions::pre");
  }
  int64_t n = by_id.empty() ? 0 : by_id.rbegin()->first + 1;
  if (model_config.contains("vocab_size") && model_config["vocab_size"].is_number_integer()) {
    n = std::max(n, model_config["vocab_size"].get<int64_t>());
  }
  for (int64_t id = 0; id < n; ++id) {
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      spec.tokens.push_back("[PAD" + std::to_string(id) + "]");
      spec.types.push_back(static_cast<int32_t>(TokenType::kUnused));
      continue;
    }
    std::string text = it->second;
    TokenType type = TokenType::kNormal;
    auto a = added.find(id);
    if (a != added.end()) {
      if (a->second.special || looks_special(text)) {
        type = TokenType::kControl;
      } else {
        text = replace_all(text, kSpmSpace, " ");  // llama.cpp matches user-defined text as is
        type = TokenType::kUserDefined;
      }
    }
    spec.tokens.push_back(std::move(text));
    spec.types.push_back(static_cast<int32_t>(type));
  }
  if (!model.contains("merges") || !model["merges"].is_array()) {
    return format_error("tokenizer.json: model.merges is missing");
  }
  for (const auto& m : model["merges"]) {
    if (m.is_string()) {
      spec.merges.push_back(m.get<std::string>());
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      // Pairs (transformers >= 4.45) may hold spaces; llama.cpp stores them as U+0120 ("Ġ").
      const std::string left = replace_all(m[0].get<std::string>(), " ", "\xC4\xA0");
      const std::string right = replace_all(m[1].get<std::string>(), " ", "\xC4\xA0");
      spec.merges.push_back(left + " " + right);
    } else {
      return format_error("tokenizer.json: unknown merges format");
    }
  }
  return spec;
}

}  // namespace

Expected<VocabSpec> vocab_from_hf(const HfTokenizerFiles& files, const HfImportOptions& options,
                                  const Logger& logger) {
  // nlohmann::json throws on some type mismatches; none may escape the library.
  try {
    return vocab_from_hf_json(files, options, logger);
  } catch (const std::exception& e) {
    return format_error("tokenizer.json: ", e.what());
  }
}

void write_vocab_metadata(const VocabSpec& spec, gguf::Writer& w) {
  w.set_string("tokenizer.ggml.model", spec.model);
  if (!spec.pre.empty()) w.set_string("tokenizer.ggml.pre", spec.pre);
  w.set_string_array("tokenizer.ggml.tokens", spec.tokens);
  if (!spec.scores.empty()) w.set_f32_array("tokenizer.ggml.scores", spec.scores);
  if (!spec.types.empty()) w.set_i32_array("tokenizer.ggml.token_type", spec.types);
  if (!spec.merges.empty()) w.set_string_array("tokenizer.ggml.merges", spec.merges);
  const std::pair<const char*, const VocabSpec::OptionalId*> ids[] = {
      {"bos_token_id", &spec.bos},         {"eos_token_id", &spec.eos},
      {"eot_token_id", &spec.eot},         {"eom_token_id", &spec.eom},
      {"unknown_token_id", &spec.unk},     {"seperator_token_id", &spec.sep},
      {"padding_token_id", &spec.pad},     {"cls_token_id", &spec.cls},
      {"mask_token_id", &spec.mask},       {"fim_pre_token_id", &spec.fim_pre},
      {"fim_suf_token_id", &spec.fim_suf}, {"fim_mid_token_id", &spec.fim_mid},
      {"fim_pad_token_id", &spec.fim_pad}, {"fim_rep_token_id", &spec.fim_rep},
      {"fim_sep_token_id", &spec.fim_sep},
  };
  for (const auto& [name, id] : ids) {
    if (id->present && id->value >= 0 && id->value <= 0xFFFFFFFFll) {
      w.set_u32(std::string("tokenizer.ggml.") + name, static_cast<uint32_t>(id->value));
    }
  }
  if (spec.add_bos >= 0) w.set_bool("tokenizer.ggml.add_bos_token", spec.add_bos != 0);
  if (spec.add_eos >= 0) w.set_bool("tokenizer.ggml.add_eos_token", spec.add_eos != 0);
  if (spec.add_space_prefix >= 0) {
    w.set_bool("tokenizer.ggml.add_space_prefix", spec.add_space_prefix != 0);
  }
  if (!spec.chat_template.empty()) w.set_string("tokenizer.chat_template", spec.chat_template);
}

}  // namespace lathe::tokenizer
