// Draft and target must speak the same vocabulary: a drafted token id is checked by the target
// as the same id, so token i must mean the same text in both.
#pragma once

#include "core/status.h"
#include "tokenizer/vocab.h"

namespace lathe::spec {

// The largest difference in token count allowed (llama.cpp's SPEC_VOCAB_MAX_SIZE_DIFFERENCE):
// models of one family often pad their vocabulary to different sizes.
inline constexpr int32_t kMaxVocabSizeDifference = 128;
// Ids below this are not compared (llama.cpp's SPEC_VOCAB_CHECK_START_TOKEN_ID): some families
// name their first special tokens differently in different sizes.
inline constexpr int32_t kVocabCheckStartId = 5;

// Ok when the draft can draft for the target. Otherwise the error names the first difference:
// the vocabulary type, BOS/EOS use, the sizes, or the first token id whose texts differ, with
// both texts, e.g. "the draft's vocabulary differs from the target's at token 259: target
// '▁t', draft 'ab'".
Status check_vocab_compatible(const tokenizer::Vocab& target, const tokenizer::Vocab& draft);

}  // namespace lathe::spec
