// Vocabularies for synthetic models: generated (byte-level BPE or SentencePiece-like, of any size
// from a few hundred tokens up) or copied from another GGUF file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "gguf/gguf_writer.h"
#include "model/synth_presets.h"

namespace lathe::cli {

struct SynthVocab {
  std::string model;  // tokenizer.ggml.model: "gpt2" or "llama"
  std::string pre;    // tokenizer.ggml.pre
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<float> scores;        // SPM only
  std::vector<std::string> merges;  // BPE only
  int64_t bos = -1, eos = -1, unk = -1, pad = -1;
  bool add_bos = false;
  std::string chat_template;
};

// The fewest tokens a generated vocabulary of `style` can have (bytes + specials + a few).
int64_t min_generated_vocab(model::synth::VocabStyle style);

// A valid vocabulary of exactly n_tokens tokens: every byte has a token, every merge joins two
// tokens into a third, special tokens are control tokens, so text round-trips through it.
Expected<SynthVocab> generate_vocab(model::synth::VocabStyle style, int64_t n_tokens);

// Writes the tokenizer.* keys in the order llama.cpp's converter does.
void write_vocab(const SynthVocab& vocab, gguf::Writer& writer);

}  // namespace lathe::cli
