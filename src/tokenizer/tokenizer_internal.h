// Working buffers of one encode() call, shared by the SPM and BPE merge code. Internal.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace lathe::tokenizer {

// A symbol of the merge loop: a run of bytes [begin, begin + size) of the text being merged,
// linked to its live neighbours. size 0 marks a symbol merged into its left neighbour.
struct MergeSymbol {
  int32_t id;  // token (or BPE extra symbol) id; kNoToken when the text is no token
  int32_t prev;
  int32_t next;
  uint32_t begin;
  uint32_t size;
};

struct SpmBigram {
  float score;
  int32_t left;
  int32_t right;
  uint32_t size;
  int32_t id;
};

struct BpeBigram {
  int32_t rank;
  int32_t left;
  int32_t right;
  int32_t left_id;
  int32_t right_id;
  int32_t result;
};

struct Tokenizer::Scratch {
  std::vector<Fragment> fragments;
  std::string text;  // SPM: the escaped fragment; BPE: the byte-encoded word
  std::vector<MergeSymbol> symbols;
  std::vector<SpmBigram> spm_queue;
  std::vector<BpeBigram> bpe_queue;
  PreTokenizerScratch pre;
  std::vector<TextPiece> pieces;
};

}  // namespace lathe::tokenizer
