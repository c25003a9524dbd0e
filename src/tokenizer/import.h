// Importers for lathe's model converter: tokenizers in other formats -> the GGUF vocabulary
// metadata (tokenizer.ggml.*) that llama.cpp's converters would write for them.
//
//  - llama2.c's tokenizer.bin: int32 max_token_length, then per token float32 score, int32 length
//    and the bytes. Converted as llama.cpp's convert-llama2c-to-ggml does: ids 0/1/2 become
//    <unk>/<s>/</s>, <0xXX> pieces are byte tokens, spaces are written as "▁".
//  - Hugging Face tokenizer.json with a BPE model. With byte_fallback (Llama/Mistral style) it
//    becomes an SPM ("llama") vocabulary as convert_hf_to_gguf.py's LlamaHfVocab writes it (every
//    score -1000, special tokens control); a byte-level BPE becomes a "gpt2" vocabulary with its
//    merges and a tokenizer.ggml.pre detected from the pre-tokenizer's expression (llama.cpp
//    detects it by hashing the tokenization of a test text, which needs the Python tokenizer).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/log.h"
#include "core/status.h"
#include "gguf/gguf_writer.h"
#include "tokenizer/vocab.h"

namespace lathe::tokenizer {

// vocab_size comes from the model's config (the file does not hold it); 0 reads to the end.
Expected<VocabSpec> vocab_from_llama2c(std::span<const uint8_t> bytes, int32_t vocab_size = 0);
Expected<VocabSpec> vocab_from_llama2c_file(const std::string& path, int32_t vocab_size = 0);

struct HfTokenizerFiles {
  std::string tokenizer_json;         // required
  std::string tokenizer_config_json;  // optional ("" when absent)
  std::string config_json;            // optional: vocab_size and *_token_id fallbacks
};

struct HfImportOptions {
  // tokenizer.ggml.pre for byte-level BPE; empty: detect it from the pre-tokenizer.
  std::string pre;
};

// Reads tokenizer.json, tokenizer_config.json and config.json from a model folder.
Expected<HfTokenizerFiles> read_hf_tokenizer_dir(const std::string& dir);
Expected<VocabSpec> vocab_from_hf(const HfTokenizerFiles& files, const HfImportOptions& options,
                                  const Logger& logger);

// Writes the tokenizer.ggml.* (and tokenizer.chat_template) keys of a vocabulary.
void write_vocab_metadata(const VocabSpec& spec, gguf::Writer& writer);

}  // namespace lathe::tokenizer
