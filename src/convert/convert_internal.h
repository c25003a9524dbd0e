// Helpers the llama2.c and Hugging Face planners share. Not part of the convert API.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "convert/convert.h"
#include "core/log.h"
#include "core/status.h"
#include "gguf/gguf_writer.h"
#include "tokenizer/vocab.h"

namespace lathe::convert::internal {

const Logger& logger_of(const ConvertOptions& options);

// The vocabulary for a model with n_vocab embedding rows. `tokenizer` is a llama2.c
// tokenizer.bin or a Hugging Face tokenizer.json (tokenizer_config.json and config.json are read
// from `hf_dir` when given, else from the tokenizer's folder). Error when the token count does not
// match n_vocab: the ids would index the wrong embedding rows.
Expected<tokenizer::VocabSpec> load_vocab(const std::string& tokenizer, const std::string& hf_dir,
                                          int64_t n_vocab, const Logger& logger);

// The last path component without extension ("stories260K" for "a/stories260K.bin", "Model" for
// "a/Model/").
std::string default_name(const std::string& path, bool strip_extension);

// general.* keys every conversion writes, in llama.cpp's order.
Status write_general(gguf::Writer& w, std::string_view arch, const std::string& name,
                     TensorType type);

// True when a GGUF name is a norm weight (kept F32 whatever the type).
bool is_norm(std::string_view gguf_name);

}  // namespace lathe::convert::internal
