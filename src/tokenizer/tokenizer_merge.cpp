// The merge loops: SentencePiece (highest score first) and byte-level BPE (lowest rank first).
// Both follow llama.cpp's order exactly, ties included: among equal scores or ranks the leftmost
// pair merges first.
#include <algorithm>

#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

namespace lathe::tokenizer {

namespace {

// SentencePiece sees spaces as U+2581 "▁".
constexpr std::string_view kSpace = "\xE2\x96\x81";

// Heap order: the top is the best bigram.
struct SpmWorse {
  bool operator()(const SpmBigram& a, const SpmBigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};
struct BpeWorse {
  bool operator()(const BpeBigram& a, const BpeBigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

void unlink_right(std::vector<MergeSymbol>& symbols, MergeSymbol& left, MergeSymbol& right,
                  int32_t left_index) {
  left.size += right.size;
  right.size = 0;
  left.next = right.next;
  if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = left_index;
}

}  // namespace

void Tokenizer::encode_spm(std::string_view fragment, bool space_prefix, Scratch& s,
                           std::vector<TokenId>& out) const {
  std::string& text = s.text;
  text.clear();
  text.reserve(fragment.size() + 16);
  if (space_prefix) text += kSpace;
  for (char c : fragment) {
    if (c == ' ') {
      text += kSpace;
    } else {
      text.push_back(c);
    }
  }
  if (text.empty()) return;

  auto& symbols = s.symbols;
  symbols.clear();
  for (size_t pos = 0; pos < text.size();) {
    const size_t len =
        std::min(utf8_sequence_length(static_cast<uint8_t>(text[pos])), text.size() - pos);
    const int32_t index = static_cast<int32_t>(symbols.size());
    symbols.push_back(MergeSymbol{vocab_.find(std::string_view(text).substr(pos, len)), index - 1,
                                  index + 1, static_cast<uint32_t>(pos),
                                  static_cast<uint32_t>(len)});
    pos += len;
  }

  // Merge word by word when no token can span a word start (see spm_words_are_independent_): the
  // result is the same as merging the whole text at once, but each priority queue stays small.
  const auto is_space = [&](size_t i) {
    return symbols[i].size == kSpace.size() &&
           std::string_view(text).substr(symbols[i].begin, kSpace.size()) == kSpace;
  };
  int32_t begin = 0;
  const int32_t n = static_cast<int32_t>(symbols.size());
  for (int32_t i = 1; i < n; ++i) {
    if (spm_words_are_independent_ && is_space(static_cast<size_t>(i)) &&
        !is_space(static_cast<size_t>(i - 1))) {
      merge_spm_segment(text, begin, i, s, out);
      begin = i;
    }
  }
  merge_spm_segment(text, begin, n, s, out);
}

void Tokenizer::merge_spm_segment(std::string_view text, int32_t begin, int32_t end, Scratch& s,
                                  std::vector<TokenId>& out) const {
  auto& symbols = s.symbols;
  symbols[static_cast<size_t>(begin)].prev = -1;
  symbols[static_cast<size_t>(end - 1)].next = -1;
  auto& queue = s.spm_queue;
  queue.clear();
  const auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const MergeSymbol& l = symbols[static_cast<size_t>(left)];
    const MergeSymbol& r = symbols[static_cast<size_t>(right)];
    const uint32_t size = l.size + r.size;
    const TokenId id = vocab_.find(text.substr(l.begin, size));
    if (id == kNoToken) return;
    queue.push_back(SpmBigram{vocab_.score(id), left, right, size, id});
    std::push_heap(queue.begin(), queue.end(), SpmWorse());
  };
  for (int32_t i = begin + 1; i < end; ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end(), SpmWorse());
    const SpmBigram bigram = queue.back();
    queue.pop_back();
    MergeSymbol& left = symbols[static_cast<size_t>(bigram.left)];
    MergeSymbol& right = symbols[static_cast<size_t>(bigram.right)];
    // Stale: one side was merged away or grew since the pair was queued.
    if (left.size == 0 || right.size == 0 || left.size + right.size != bigram.size) continue;
    unlink_right(symbols, left, right, bigram.left);
    left.id = bigram.id;
    try_add(left.prev, bigram.left);
    try_add(bigram.left, left.next);
  }

  for (int32_t i = begin; i != -1; i = symbols[static_cast<size_t>(i)].next) {
    const MergeSymbol& sym = symbols[static_cast<size_t>(i)];
    if (sym.id != kNoToken) {
      out.push_back(sym.id);
      continue;
    }
    // No token for this character: its bytes as <0xXX> tokens.
    for (uint32_t b = sym.begin; b < sym.begin + sym.size; ++b) {
      const TokenId byte = vocab_.byte_token(static_cast<uint8_t>(text[b]));
      if (byte != kNoToken) {
        out.push_back(byte);
      } else if (vocab_.unk() != kNoToken) {
        out.push_back(vocab_.unk());  // llama.cpp would throw here; lathe degrades to <unk>
      }
    }
  }
}

void Tokenizer::encode_bpe(std::string_view fragment, Scratch& s, std::vector<TokenId>& out) const {
  s.pieces.clear();
  std::string_view text;
  pre_.split(fragment, s.pre, s.pieces, text);
  for (const TextPiece& p : s.pieces)
    encode_bpe_word(text.substr(p.begin, p.end - p.begin), s, out);
}

void Tokenizer::encode_bpe_word(std::string_view word, Scratch& s,
                                std::vector<TokenId>& out) const {
  if (word.empty()) return;
  if (vocab_.ignore_merges()) {
    // Llama 3: a piece that is a token as a whole is that token, whatever the merges say.
    std::string& encoded = s.text;
    encoded.clear();
    for (char c : word) append_utf8(gpt2_byte_to_codepoint(static_cast<uint8_t>(c)), encoded);
    const TokenId id = vocab_.find(encoded);
    if (id != kNoToken) {
      out.push_back(id);
      return;
    }
  }
  // Byte-level BPE: every byte starts as one symbol (its GPT-2 character).
  auto& symbols = s.symbols;
  symbols.clear();
  const int32_t n = static_cast<int32_t>(word.size());
  for (int32_t i = 0; i < n; ++i) {
    symbols.push_back(MergeSymbol{byte_symbol_[static_cast<uint8_t>(word[static_cast<size_t>(i)])],
                                  i - 1, i + 1 < n ? i + 1 : -1, static_cast<uint32_t>(i), 1});
  }
  auto& queue = s.bpe_queue;
  queue.clear();
  const auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const int32_t left_id = symbols[static_cast<size_t>(left)].id;
    const int32_t right_id = symbols[static_cast<size_t>(right)].id;
    const PairMergeMap::Merge m = merges_.find(left_id, right_id);
    if (m.rank < 0) return;
    queue.push_back(BpeBigram{m.rank, left, right, left_id, right_id, m.result});
    std::push_heap(queue.begin(), queue.end(), BpeWorse());
  };
  for (int32_t i = 1; i < n; ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end(), BpeWorse());
    const BpeBigram bigram = queue.back();
    queue.pop_back();
    MergeSymbol& left = symbols[static_cast<size_t>(bigram.left)];
    MergeSymbol& right = symbols[static_cast<size_t>(bigram.right)];
    // Stale: a side was merged away or changed (its id names its text) since the pair was queued.
    if (left.size == 0 || right.size == 0 || left.id != bigram.left_id ||
        right.id != bigram.right_id) {
      continue;
    }
    unlink_right(symbols, left, right, bigram.left);
    left.id = bigram.result;
    try_add(left.prev, bigram.left);
    try_add(bigram.left, left.next);
  }

  const int32_t n_vocab = vocab_.n_tokens();
  for (int32_t i = 0; i != -1; i = symbols[static_cast<size_t>(i)].next) {
    const MergeSymbol& sym = symbols[static_cast<size_t>(i)];
    if (sym.id >= 0 && sym.id < n_vocab) {
      out.push_back(sym.id);
      continue;
    }
    // Not a token: llama.cpp looks up each byte of the symbol's encoded text on its own.
    for (uint32_t b = sym.begin; b < sym.begin + sym.size; ++b) {
      const auto& fallback = byte_fallback_[static_cast<uint8_t>(word[b])];
      out.insert(out.end(), fallback.begin(), fallback.end());
    }
  }
}

}  // namespace lathe::tokenizer
