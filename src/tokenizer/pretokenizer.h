// BPE pre-tokenizers: split text into the pieces that BPE merges never cross, following the
// regular expressions llama.cpp uses for each `tokenizer.ggml.pre` value. Rather than running a
// regex engine, each expression is a hand-written matcher over codepoints whose \p{L}, \p{N}, \s
// ... come from the generated Unicode tables, reproducing llama.cpp's matches exactly (including
// where its own hand-written matchers differ from a textbook regex engine).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lathe::tokenizer {

enum class PreTokenizerType {
  kDefault,      // llama.cpp's fallback: punctuation runs, GPT-2 rule, number runs, digit triples
  kGpt2,         // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
  kLlama3,       // Llama 3: case-insensitive contractions, \p{N}{1,3}, newline handling
  kQwen2,        // Llama 3's expression with single digits
  kStarcoder,    // each digit alone, then the GPT-2 rule (starcoder, smollm, refact, command-r...)
  kDeepseekLlm,  // DeepSeek LLM's script-specific letter and punctuation classes
};

std::string_view pre_tokenizer_type_name(PreTokenizerType type);

// A piece of text: [begin, end) byte offsets.
struct TextPiece {
  uint32_t begin = 0;
  uint32_t end = 0;
};

// Reusable buffers for one split; keep one per thread to avoid allocating per call.
struct PreTokenizerScratch {
  std::vector<uint32_t> codepoints;
  std::vector<uint32_t> offsets;  // byte offset of each codepoint, plus the end
  std::vector<uint32_t> pieces;   // codepoint boundaries: piece i is [pieces[i], pieces[i+1])
  std::vector<uint32_t> next;
  std::string sanitized;
};

class PreTokenizer {
 public:
  explicit PreTokenizer(PreTokenizerType type = PreTokenizerType::kGpt2);

  PreTokenizerType type() const { return type_; }

  // Splits `text` into pieces appended to `out`. Malformed UTF-8 is replaced by U+FFFD first, as
  // llama.cpp does; `text_out` then points at the text the pieces index (the input itself when it
  // was well-formed, else scratch.sanitized).
  void split(std::string_view text, PreTokenizerScratch& scratch, std::vector<TextPiece>& out,
             std::string_view& text_out) const;

  // Convenience for tests: the pieces as strings.
  std::vector<std::string> split_to_strings(std::string_view text) const;

 private:
  PreTokenizerType type_;
};

}  // namespace lathe::tokenizer
