#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <cctype>
#include <unordered_map>

#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

namespace lathe::tokenizer {

namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // "▁"

void append_unescaped_spaces(std::string_view text, std::string& out) {
  for (size_t pos = 0; pos < text.size();) {
    if (text.compare(pos, kSpmSpace.size(), kSpmSpace) == 0) {
      out.push_back(' ');
      pos += kSpmSpace.size();
    } else {
      out.push_back(text[pos++]);
    }
  }
}

// GPT-2 byte-level text back to bytes; a character outside the byte alphabet is kept visible the
// way llama.cpp shows it.
void append_gpt2_decoded(std::string_view text, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t pos = 0; pos < text.size();) {
    const uint32_t cp = decode_utf8(text, pos);
    const int byte = gpt2_codepoint_to_byte(cp);
    if (byte >= 0) {
      out.push_back(static_cast<char>(byte));
      continue;
    }
    std::string utf8;
    append_utf8(cp, utf8);
    out += "[UNK_BYTE_0x";
    for (unsigned char c : utf8) {
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
    out.append(text);
    out.push_back(']');
  }
}

// The byte a <0xXX> token stands for (hex digits at [3, 5), as llama.cpp reads them).
char byte_of_token(std::string_view text) {
  int value = 0;
  for (size_t i = 3; i < 5 && i < text.size(); ++i) {
    const char c = text[i];
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      break;
    }
    value = value * 16 + digit;
  }
  return static_cast<char>(value);
}

// llama.cpp's clean_up_tokenization_spaces, three passes over the text.
void clean_up_spaces(std::string& text) {
  if (text.empty()) return;
  // " ?", " !", " .", " ," lose the space.
  size_t total = 1;
  for (size_t i = 1; i < text.size(); ++i) {
    const char x = text[i];
    if (text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) --total;
    text[total++] = x;
  }
  text.resize(total);
  // " ' " becomes "'".
  total = 1;
  for (size_t i = 1; i < text.size(); ++i) {
    const char x = text[i];
    if (x == '\'' && i + 1 < text.size() && text[i - 1] == ' ' && text[i + 1] == ' ') {
      --total;
      text[++i] = '\0';  // the space after is skipped, and no longer counts as a space
    }
    text[total++] = x;
  }
  text.resize(total);
  // " 's", " 'm", " 're", " 've" lose the space.
  total = 1;
  for (size_t i = 1; i < text.size(); ++i) {
    const char x = text[i];
    if (text[i - 1] == ' ' && x == '\'' && i + 1 < text.size()) {
      const char x1 = text[i + 1];
      if (x1 == 's' || x1 == 'm') {
        --total;
      } else if (x1 != 't' && x1 != 'd' && i + 2 < text.size()) {
        const char x2 = text[i + 2];
        if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) --total;
      }
    }
    text[total++] = x;
  }
  text.resize(total);
}

}  // namespace

Expected<Tokenizer> Tokenizer::from_gguf(const gguf::File& file, const Logger& logger) {
  LATHE_ASSIGN_OR_RETURN(Vocab vocab, Vocab::from_gguf(file, logger));
  return create(std::move(vocab), logger);
}

Expected<Tokenizer> Tokenizer::create(Vocab vocab, const Logger& logger) {
  Tokenizer t;
  t.vocab_ = std::move(vocab);
  const Vocab& v = t.vocab_;
  t.pre_ = PreTokenizer(v.pre_type());
  const int32_t n_vocab = v.n_tokens();

  if (v.type() == VocabType::kBpe) {
    // Symbol ids for merge strings the vocabulary lacks, numbered after the tokens.
    std::unordered_map<std::string, int32_t> extra;
    const auto symbol = [&](std::string_view text) -> int32_t {
      const TokenId id = v.find(text);
      if (id != kNoToken) return id;
      auto [it, inserted] =
          extra.emplace(std::string(text), n_vocab + static_cast<int32_t>(extra.size()));
      return it->second;
    };
    t.merges_.reserve(v.merges().size());
    std::string joined;
    size_t skipped = 0;
    for (size_t rank = 0; rank < v.merges().size(); ++rank) {
      const auto& [a, b] = v.merges()[rank];
      if (a.empty() || b.empty()) {
        ++skipped;
        continue;
      }
      joined.assign(a);
      joined.append(b);
      const int32_t left = symbol(a);
      const int32_t right = symbol(b);
      t.merges_.insert(left, right, {static_cast<int32_t>(rank), symbol(joined)});
    }
    if (skipped > 0) logger.warn("tokenizer: ", skipped, " merges have no 'left right' form");
    for (int b = 0; b < 256; ++b) {
      std::string ch;
      append_utf8(gpt2_byte_to_codepoint(static_cast<uint8_t>(b)), ch);
      TokenId id = v.find(ch);
      if (id == kNoToken) {
        auto it = extra.find(ch);
        if (it != extra.end()) id = it->second;
      }
      t.byte_symbol_[b] = id;
      for (char c : ch) {
        const TokenId single = v.find(std::string_view(&c, 1));
        if (single != kNoToken) t.byte_fallback_[b].push_back(single);
      }
    }
  }

  const auto& order = v.special_match_order();
  for (uint32_t i = 0; i < order.size(); ++i) {
    const std::string_view text = v.text(order[i]);
    const auto b0 = static_cast<uint8_t>(text[0]);
    t.special_first_byte_[b0] = true;
    if (text.size() == 1) {
      t.special_single_[b0].push_back(i);
    } else {
      t.special_by_prefix_[static_cast<uint16_t>(b0 << 8 | static_cast<uint8_t>(text[1]))]
          .push_back(i);
    }
  }

  if (v.type() == VocabType::kSpm) {
    t.spm_words_are_independent_ = true;
    for (TokenId id = 0; id < n_vocab && t.spm_words_are_independent_; ++id) {
      const std::string_view text = v.text(id);
      for (size_t pos = 0; pos < text.size();) {
        const size_t start = pos;
        const uint32_t cp = decode_utf8(text, pos);
        // Malformed tokens could pair with bytes around a space in ways the check cannot see.
        const bool malformed = pos - start != utf8_length_of(cp);
        const bool space_after_other =
            cp == 0x2581 && start > 0 && (start < 3 || text.substr(start - 3, 3) != kSpmSpace);
        if (malformed || space_after_other) {
          t.spm_words_are_independent_ = false;
          break;
        }
      }
    }
  }

  // Every token's text as decode() shows it, rendered once.
  t.piece_offsets_.reserve(static_cast<size_t>(n_vocab) + 1);
  for (TokenId id = 0; id < n_vocab; ++id) {
    t.piece_offsets_.push_back(static_cast<uint32_t>(t.pieces_.size()));
    const TokenData& data = v.token(id);
    if (data.attrs & (attr::kUnknown | attr::kControl | attr::kUserDefined)) {
      t.pieces_.append(data.text);
    } else if (data.attrs & attr::kNormal) {
      if (v.type() == VocabType::kSpm) {
        append_unescaped_spaces(data.text, t.pieces_);
      } else {
        append_gpt2_decoded(data.text, t.pieces_);
      }
    } else if (data.attrs & attr::kByte) {
      t.pieces_.push_back(byte_of_token(data.text));
    }
    // Unused and undefined tokens render as nothing.
  }
  t.piece_offsets_.push_back(static_cast<uint32_t>(t.pieces_.size()));
  return t;
}

std::string_view Tokenizer::piece(TokenId id) const {
  if (!vocab_.valid(id)) return {};
  const size_t i = static_cast<size_t>(id);
  return std::string_view(pieces_).substr(piece_offsets_[i],
                                          piece_offsets_[i + 1] - piece_offsets_[i]);
}

void Tokenizer::append_piece(TokenId id, bool strip_space, bool render_special,
                             std::string& out) const {
  if (!vocab_.valid(id)) return;
  if (!render_special && vocab_.has_attr(id, attr::kUnknown | attr::kControl)) return;
  std::string_view p = piece(id);
  if (strip_space && !p.empty() && p.front() == ' ') p.remove_prefix(1);
  out.append(p);
}

std::string Tokenizer::token_to_piece(TokenId id, bool render_special) const {
  std::string out;
  append_piece(id, false, render_special, out);
  return out;
}

std::string Tokenizer::decode(std::span<const TokenId> tokens, const DecodeOptions& options) const {
  std::string out;
  bool strip_space = vocab_.add_space_prefix();
  if (options.remove_special && vocab_.add_bos() && !tokens.empty() &&
      tokens.front() == vocab_.bos()) {
    strip_space = false;  // llama.cpp keeps the space when it drops the BOS
    tokens = tokens.subspan(1);
  }
  if (options.remove_special && vocab_.add_eos() && !tokens.empty() &&
      tokens.back() == vocab_.eos()) {
    tokens = tokens.first(tokens.size() - 1);
  }
  for (TokenId id : tokens) {
    append_piece(id, strip_space, options.render_special, out);
    strip_space = false;
  }
  const bool clean = options.clean_spaces == DecodeOptions::CleanSpaces::kVocabDefault
                         ? vocab_.clean_spaces()
                         : options.clean_spaces == DecodeOptions::CleanSpaces::kOn;
  if (clean) clean_up_spaces(out);
  return out;
}

void Tokenizer::partition_special(std::string_view text, bool parse_special,
                                  std::vector<Fragment>& fragments) const {
  fragments.clear();
  if (text.empty()) return;
  fragments.push_back(Fragment{kNoToken, 0, static_cast<uint32_t>(text.size())});
  const auto& order = vocab_.special_match_order();
  if (order.empty()) return;
  // Which special tokens occur at all, in one pass over the text; only those split fragments.
  std::vector<char> occurs(order.size(), 0);
  size_t n_occurring = 0;
  const auto mark = [&](uint32_t i, size_t pos) {
    if (occurs[i]) return;
    const std::string_view token = vocab_.text(order[i]);
    if (text.compare(pos, token.size(), token) == 0) {
      occurs[i] = 1;
      ++n_occurring;
    }
  };
  for (size_t pos = 0; pos < text.size(); ++pos) {
    const auto b0 = static_cast<uint8_t>(text[pos]);
    if (!special_first_byte_[b0]) continue;
    for (uint32_t i : special_single_[b0]) mark(i, pos);
    if (pos + 1 < text.size()) {
      auto it = special_by_prefix_.find(
          static_cast<uint16_t>(b0 << 8 | static_cast<uint8_t>(text[pos + 1])));
      if (it != special_by_prefix_.end()) {
        for (uint32_t i : it->second) mark(i, pos);
      }
    }
  }
  if (n_occurring == 0) return;

  std::vector<Fragment> next;
  const auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  // Longest token first: each one splits every text fragment at all of its occurrences.
  for (uint32_t index = 0; index < order.size(); ++index) {
    if (!occurs[index]) continue;
    const TokenId id = order[index];
    const uint32_t a = vocab_.attrs(id);
    // Without parse_special only user-defined tokens are matched (as Hugging Face does).
    if (!parse_special && (a & (attr::kControl | attr::kUnknown))) continue;
    const std::string_view token = vocab_.text(id);
    next.clear();
    for (const Fragment& f : fragments) {
      if (f.token != kNoToken) {
        next.push_back(f);
        continue;
      }
      uint32_t begin = f.begin;
      const uint32_t end = f.end;
      while (begin < end) {
        const size_t match = text.substr(0, end).find(token, begin);
        if (match == std::string_view::npos) break;
        uint32_t left_end = static_cast<uint32_t>(match);
        if (a & attr::kLstrip) {
          while (left_end > begin && is_space(text[left_end - 1])) --left_end;
        }
        if (left_end > begin) next.push_back(Fragment{kNoToken, begin, left_end});
        next.push_back(Fragment{id, 0, 0});
        begin = static_cast<uint32_t>(match + token.size());
        if (a & attr::kRstrip) {
          while (begin < end && is_space(text[begin])) ++begin;
        }
      }
      if (begin < end) next.push_back(Fragment{kNoToken, begin, end});
    }
    fragments.swap(next);
  }
}

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  std::vector<TokenId> out;
  encode_append(text, add_special, parse_special, out);
  return out;
}

void Tokenizer::encode_append(std::string_view text, bool add_special, bool parse_special,
                              std::vector<TokenId>& out) const {
  // Offsets are 32-bit; a text of 4 GiB or more is cut there (see the header).
  if (text.size() >= UINT32_MAX) text = text.substr(0, UINT32_MAX - 1);
  Scratch scratch;
  partition_special(text, parse_special, scratch.fragments);
  const size_t first = out.size();
  if (add_special && vocab_.add_bos() && vocab_.bos() != kNoToken) out.push_back(vocab_.bos());
  // SPM puts a space before text that starts the input or follows a special token.
  bool after_special = true;
  for (const Fragment& f : scratch.fragments) {
    if (f.token != kNoToken) {
      out.push_back(f.token);
      after_special = true;
      continue;
    }
    const std::string_view piece = text.substr(f.begin, f.end - f.begin);
    if (vocab_.type() == VocabType::kSpm) {
      encode_spm(piece, vocab_.add_space_prefix() && after_special, scratch, out);
    } else {
      encode_bpe(piece, scratch, out);
    }
    after_special = false;
  }
  if (add_special && vocab_.add_eos() && vocab_.eos() != kNoToken) out.push_back(vocab_.eos());
  (void)first;
}

StreamingDetokenizer::StreamingDetokenizer(const Tokenizer& tokenizer, Options options)
    : tokenizer_(&tokenizer), options_(options) {}

std::string StreamingDetokenizer::push(TokenId id) {
  const bool strip =
      first_ && options_.strip_leading_space && tokenizer_->vocab().add_space_prefix();
  first_ = false;
  tokenizer_->append_piece(id, strip, options_.render_special, pending_);
  const size_t hold = incomplete_utf8_suffix(pending_);
  std::string ready = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return ready;
}

std::string StreamingDetokenizer::flush() {
  std::string rest = std::move(pending_);
  pending_.clear();
  first_ = true;
  return rest;
}

}  // namespace lathe::tokenizer
