// A tokenizer vocabulary as GGUF stores it (tokenizer.ggml.*): token texts, scores, types and
// merges, the special token ids, and the flags and rules that llama.cpp derives from them (token
// attributes, end-of-generation set, which tokens are matched literally in text).
//
// Loading never trusts the file: missing arrays, arrays of the wrong type or length, duplicate or
// empty-looking tokens and out-of-range ids come back as errors or, where llama.cpp tolerates them,
// as warnings through the Logger.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.h"
#include "core/status.h"
#include "gguf/gguf.h"
#include "tokenizer/hash_map.h"
#include "tokenizer/pretokenizer.h"

namespace lathe::tokenizer {

using TokenId = int32_t;
inline constexpr TokenId kNoToken = -1;

enum class VocabType {
  kSpm,  // tokenizer.ggml.model "llama": SentencePiece, merges by score, <0xXX> byte fallback
  kBpe,  // tokenizer.ggml.model "gpt2": byte-level BPE, merges by rank, pre-tokenizer by name
};

// tokenizer.ggml.token_type values.
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// Per-token attribute bits (llama.cpp's llama_token_attr values).
namespace attr {
inline constexpr uint32_t kUndefined = 0;
inline constexpr uint32_t kUnknown = 1u << 0;
inline constexpr uint32_t kUnused = 1u << 1;
inline constexpr uint32_t kNormal = 1u << 2;
inline constexpr uint32_t kControl = 1u << 3;
inline constexpr uint32_t kUserDefined = 1u << 4;
inline constexpr uint32_t kByte = 1u << 5;
inline constexpr uint32_t kNormalized = 1u << 6;
inline constexpr uint32_t kLstrip = 1u << 7;
inline constexpr uint32_t kRstrip = 1u << 8;
inline constexpr uint32_t kSingleWord = 1u << 9;
}  // namespace attr

uint32_t token_type_to_attr(int64_t type);

struct TokenData {
  std::string_view text;  // into the vocabulary's own storage
  float score = 0.0f;
  uint32_t attrs = attr::kNormal;
};

// The special ids a vocabulary may name; kNoToken when it names none.
struct SpecialTokens {
  TokenId bos = kNoToken;
  TokenId eos = kNoToken;
  TokenId eot = kNoToken;
  TokenId eom = kNoToken;
  TokenId unk = kNoToken;
  TokenId sep = kNoToken;
  TokenId pad = kNoToken;
  TokenId mask = kNoToken;
  TokenId nl = kNoToken;  // the token of "\n"
  TokenId fim_pre = kNoToken;
  TokenId fim_suf = kNoToken;
  TokenId fim_mid = kNoToken;
  TokenId fim_pad = kNoToken;
  TokenId fim_rep = kNoToken;
  TokenId fim_sep = kNoToken;
};

// Everything from the raw tokenizer.ggml.* keys, before llama.cpp's rules are applied. Importers
// and tests build one directly; Vocab::from_gguf reads one from a file.
struct VocabSpec {
  std::string model;  // "llama" or "gpt2"
  std::string pre;    // tokenizer.ggml.pre ("" when absent)
  std::vector<std::string> tokens;
  std::vector<float> scores;        // empty: all 0
  std::vector<int32_t> types;       // empty: all normal
  std::vector<std::string> merges;  // "left right", BPE only
  // Explicit metadata; unset (nullopt-like) values are -1 / absent.
  struct OptionalId {
    bool present = false;
    int64_t value = 0;
  };
  OptionalId bos, eos, eot, eom, unk, sep, pad, mask, fim_pre, fim_suf, fim_mid, fim_pad, fim_rep,
      fim_sep;
  int add_bos = -1;  // -1: not given; else 0/1
  int add_eos = -1;
  int add_space_prefix = -1;
  std::string general_name;  // general.name: llama.cpp keys a few per-model rules on it
  std::string architecture;  // general.architecture
  // Carried for importers (tokenizer.chat_template); the tokenizer itself does not use it.
  std::string chat_template;
  OptionalId cls;
};

Expected<VocabSpec> read_vocab_spec(const gguf::File& file);

class Vocab {
 public:
  Vocab() = default;
  Vocab(Vocab&&) noexcept = default;
  Vocab& operator=(Vocab&&) noexcept = default;
  Vocab(const Vocab&) = delete;
  Vocab& operator=(const Vocab&) = delete;

  static Expected<Vocab> from_gguf(const gguf::File& file, const Logger& logger);
  static Expected<Vocab> from_spec(const VocabSpec& spec, const Logger& logger);

  VocabType type() const { return type_; }
  const std::string& model_name() const { return model_; }
  const std::string& pre_name() const { return pre_; }
  PreTokenizerType pre_type() const { return pre_type_; }

  int32_t n_tokens() const { return static_cast<int32_t>(tokens_.size()); }
  bool valid(TokenId id) const { return id >= 0 && id < n_tokens(); }
  const TokenData& token(TokenId id) const { return tokens_[static_cast<size_t>(id)]; }
  std::string_view text(TokenId id) const { return token(id).text; }
  float score(TokenId id) const { return token(id).score; }
  uint32_t attrs(TokenId id) const { return token(id).attrs; }
  bool has_attr(TokenId id, uint32_t bits) const { return valid(id) && (attrs(id) & bits) != 0; }
  bool is_control(TokenId id) const { return has_attr(id, attr::kControl); }
  bool is_byte(TokenId id) const { return has_attr(id, attr::kByte); }

  // The id whose text is exactly `text`, or kNoToken.
  TokenId find(std::string_view text) const { return ids_.find(text); }
  // The token for one raw byte: <0xXX> (SPM) or its GPT-2 character (BPE); kNoToken if missing.
  TokenId byte_token(uint8_t byte) const { return byte_tokens_[byte]; }

  const SpecialTokens& special() const { return special_; }
  TokenId bos() const { return special_.bos; }
  TokenId eos() const { return special_.eos; }
  TokenId eot() const { return special_.eot; }
  TokenId unk() const { return special_.unk; }
  TokenId pad() const { return special_.pad; }
  TokenId nl() const { return special_.nl; }

  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  bool add_space_prefix() const { return add_space_prefix_; }
  bool clean_spaces() const { return clean_spaces_; }
  bool ignore_merges() const { return ignore_merges_; }

  // End of generation: eos, eot, eom and every token llama.cpp recognizes by text.
  bool is_eog(TokenId id) const;
  const std::vector<TokenId>& eog_ids() const { return eog_ids_; }

  // Control, user-defined and unknown tokens, longest text first: the order in which they are
  // cut out of input text before the rest is tokenized.
  const std::vector<TokenId>& special_match_order() const { return special_order_; }

  // BPE merges in rank order.
  const std::vector<std::pair<std::string_view, std::string_view>>& merges() const {
    return merges_;
  }

 private:
  std::vector<char> arena_;  // every token and merge text, back to back
  std::vector<TokenData> tokens_;
  StringIdMap ids_;
  std::vector<std::pair<std::string_view, std::string_view>> merges_;
  TokenId byte_tokens_[256] = {};

  VocabType type_ = VocabType::kSpm;
  std::string model_;
  std::string pre_;
  PreTokenizerType pre_type_ = PreTokenizerType::kDefault;
  SpecialTokens special_;
  bool add_bos_ = false;
  bool add_eos_ = false;
  bool add_space_prefix_ = false;
  bool clean_spaces_ = false;
  bool ignore_merges_ = false;
  std::vector<TokenId> eog_ids_;  // sorted
  std::vector<TokenId> special_order_;
};

}  // namespace lathe::tokenizer
