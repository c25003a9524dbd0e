// Text <-> token ids for GGUF vocabularies, matching llama.cpp's tokenizer id for id.
//
//   LATHE_ASSIGN_OR_RETURN(auto file, gguf::File::open(path));
//   LATHE_ASSIGN_OR_RETURN(auto tok, tokenizer::Tokenizer::from_gguf(file, logger));
//   std::vector<TokenId> ids = tok.encode("Hello", /*add_special=*/true, /*parse_special=*/false);
//   std::string text = tok.decode(ids);
//
// encode: control and unknown tokens written in the text (e.g. "<|im_start|>") become their ids
// only when parse_special is set; user-defined tokens are always matched. add_special adds BOS /
// EOS as the vocabulary asks (tokenizer.ggml.add_bos_token / add_eos_token). SPM vocabularies get
// llama.cpp's leading space ("▁") before text that starts the input or follows a special token.
//
// decode: concatenates token pieces; with an SPM-style vocabulary (add_space_prefix) the first
// piece loses one leading space, and GPT-2-style vocabularies get llama.cpp's clean-up of spaces
// before punctuation unless DecodeOptions says otherwise.
//
// A Tokenizer is immutable after creation: every method is const and safe to call from many
// threads at once.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/log.h"
#include "core/status.h"
#include "gguf/gguf.h"
#include "tokenizer/hash_map.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/vocab.h"

namespace lathe::tokenizer {

struct DecodeOptions {
  // Drop a leading BOS and a trailing EOS when the vocabulary adds them.
  bool remove_special = false;
  // Render control and unknown tokens as their text instead of nothing.
  bool render_special = false;
  enum class CleanSpaces { kVocabDefault, kOn, kOff };
  // llama.cpp's clean_up_tokenization_spaces (" ," -> ",", " 's" -> "'s", ...).
  CleanSpaces clean_spaces = CleanSpaces::kVocabDefault;
};

class Tokenizer {
 public:
  Tokenizer() = default;
  Tokenizer(Tokenizer&&) noexcept = default;
  Tokenizer& operator=(Tokenizer&&) noexcept = default;

  static Expected<Tokenizer> from_gguf(const gguf::File& file, const Logger& logger);
  static Expected<Tokenizer> create(Vocab vocab, const Logger& logger);

  const Vocab& vocab() const { return vocab_; }
  int32_t n_tokens() const { return vocab_.n_tokens(); }
  TokenId bos() const { return vocab_.bos(); }
  TokenId eos() const { return vocab_.eos(); }
  TokenId eot() const { return vocab_.eot(); }
  TokenId nl() const { return vocab_.nl(); }
  bool add_bos() const { return vocab_.add_bos(); }
  bool add_eos() const { return vocab_.add_eos(); }
  bool is_eog(TokenId id) const { return vocab_.is_eog(id); }
  bool is_control(TokenId id) const { return vocab_.is_control(id); }

  // Texts must be shorter than 4 GiB (anything past that is ignored).
  std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special) const;
  // Appends to `out` (reuse one vector across calls to avoid reallocating).
  void encode_append(std::string_view text, bool add_special, bool parse_special,
                     std::vector<TokenId>& out) const;

  // The text of one token. Control and unknown tokens render as "" unless render_special; an id
  // outside the vocabulary renders as "". The bytes may be part of a UTF-8 character.
  std::string token_to_piece(TokenId id, bool render_special) const;
  // The same with render_special, without a copy.
  std::string_view piece(TokenId id) const;

  std::string decode(std::span<const TokenId> tokens, const DecodeOptions& options = {}) const;

  // The pre-tokenizer in use (BPE vocabularies).
  const PreTokenizer& pre_tokenizer() const { return pre_; }

 private:
  struct Fragment {
    TokenId token;  // kNoToken for text
    uint32_t begin;
    uint32_t end;
  };
  struct Scratch;

  void partition_special(std::string_view text, bool parse_special,
                         std::vector<Fragment>& fragments) const;
  void encode_spm(std::string_view text, bool space_prefix, Scratch& scratch,
                  std::vector<TokenId>& out) const;
  void merge_spm_segment(std::string_view text, int32_t begin, int32_t end, Scratch& scratch,
                         std::vector<TokenId>& out) const;
  void encode_bpe(std::string_view text, Scratch& scratch, std::vector<TokenId>& out) const;
  void encode_bpe_word(std::string_view word, Scratch& scratch, std::vector<TokenId>& out) const;
  void append_piece(TokenId id, bool strip_space, bool render_special, std::string& out) const;

  friend class StreamingDetokenizer;

  Vocab vocab_;
  PreTokenizer pre_;
  // BPE: merges keyed by symbol ids. A symbol is a token id, or an id >= n_tokens for a string
  // that merges mention but the vocabulary lacks (llama.cpp merges by string, so such strings
  // still merge; they fall back to per-byte tokens if they survive to the end).
  PairMergeMap merges_;
  // SPM: true when no token has "▁" right after another character, so no merge can cross the
  // start of a word and words can be merged one at a time (checked at load).
  bool spm_words_are_independent_ = false;
  int32_t byte_symbol_[256] = {};            // symbol of each raw byte (BPE)
  std::vector<TokenId> byte_fallback_[256];  // tokens for a byte when its symbol is no token
  // Finding which special tokens occur in a text in one pass: tokens by their first two bytes
  // (one-byte tokens by their byte), as indices into vocab_.special_match_order().
  bool special_first_byte_[256] = {};
  std::vector<uint32_t> special_single_[256];
  std::unordered_map<uint16_t, std::vector<uint32_t>> special_by_prefix_;
  std::string pieces_;                   // rendered pieces, render_special = true
  std::vector<uint32_t> piece_offsets_;  // n_tokens + 1
};

// Turns a stream of token ids into text as they arrive, emitting only whole UTF-8 characters (a
// character split across tokens, as byte tokens do, is held back until complete). The text
// emitted over the whole stream equals Tokenizer::decode of the same ids with clean_spaces off.
class StreamingDetokenizer {
 public:
  struct Options {
    bool render_special = false;
    // Strip the leading space SPM vocabularies put before the first word, as decode() does. Turn
    // it off when the stream continues a prompt (generation), where the space is real.
    bool strip_leading_space = true;
  };

  explicit StreamingDetokenizer(const Tokenizer& tokenizer)
      : StreamingDetokenizer(tokenizer, Options()) {}
  StreamingDetokenizer(const Tokenizer& tokenizer, Options options);

  // The text this token completes (possibly empty).
  std::string push(TokenId id);
  // Whatever is held back (an unfinished UTF-8 sequence), as raw bytes; the stream starts over.
  std::string flush();

 private:
  const Tokenizer* tokenizer_;
  Options options_;
  bool first_ = true;
  std::string pending_;
};

}  // namespace lathe::tokenizer
