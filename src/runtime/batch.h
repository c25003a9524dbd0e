// The unit of work of Context::decode: a list of (token, position, sequences, wants logits).
//
// Prompt processing (many positions of one sequence), generation (one), many sequences at once
// (one position each) and speculative verification (N positions of one sequence) are all batches.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

#include "kv/kv_cache.h"

namespace lathe::runtime {

using TokenId = int32_t;

class Batch {
 public:
  void clear() {
    tokens_.clear();
    positions_.clear();
    seqs_.clear();
    wants_logits_.clear();
  }
  void reserve(size_t n) {
    tokens_.reserve(n);
    positions_.reserve(n);
    seqs_.reserve(n);
    wants_logits_.reserve(n);
  }

  void add(TokenId token, int32_t position, std::initializer_list<kv::SeqId> seqs,
           bool wants_logits) {
    add(token, position, std::span<const kv::SeqId>(seqs.begin(), seqs.size()), wants_logits);
  }
  void add(TokenId token, int32_t position, std::span<const kv::SeqId> seqs, bool wants_logits) {
    kv::SeqSet set;
    for (kv::SeqId s : seqs) {
      if (s >= 0 && s < kv::kMaxSequences) set.set(static_cast<size_t>(s));
      else invalid_seq_ = true;
    }
    tokens_.push_back(token);
    positions_.push_back(position);
    seqs_.push_back(set);
    wants_logits_.push_back(wants_logits ? 1 : 0);
  }
  // Adds a run of tokens of one sequence at consecutive positions; only the last wants logits.
  void add_sequence(std::span<const TokenId> tokens, int32_t first_position, kv::SeqId seq,
                    bool last_wants_logits = true) {
    for (size_t i = 0; i < tokens.size(); ++i) {
      add(tokens[i], first_position + static_cast<int32_t>(i), {seq},
          last_wants_logits && i + 1 == tokens.size());
    }
  }
  void set_wants_logits(size_t index, bool wants) { wants_logits_[index] = wants ? 1 : 0; }

  size_t size() const { return tokens_.size(); }
  bool empty() const { return tokens_.empty(); }
  bool has_invalid_sequence() const { return invalid_seq_; }
  std::span<const TokenId> tokens() const { return tokens_; }
  std::span<const int32_t> positions() const { return positions_; }
  std::span<const kv::SeqSet> seqs() const { return seqs_; }
  bool wants_logits(size_t i) const { return wants_logits_[i] != 0; }
  // The lowest sequence id of entry i: the one whose history the token attends to.
  kv::SeqId primary_seq(size_t i) const {
    for (int s = 0; s < kv::kMaxSequences; ++s) {
      if (seqs_[i].test(static_cast<size_t>(s))) return s;
    }
    return -1;
  }

 private:
  std::vector<TokenId> tokens_;
  std::vector<int32_t> positions_;
  std::vector<kv::SeqSet> seqs_;
  std::vector<uint8_t> wants_logits_;
  bool invalid_seq_ = false;
};

}  // namespace lathe::runtime
