#include "tokenizer/pretokenizer.h"

#include <algorithm>
#include <utility>

#include "tokenizer/unicode.h"

namespace lathe::tokenizer {

std::string_view pre_tokenizer_type_name(PreTokenizerType type) {
  switch (type) {
    case PreTokenizerType::kDefault:
      return "default";
    case PreTokenizerType::kGpt2:
      return "gpt-2";
    case PreTokenizerType::kLlama3:
      return "llama3";
    case PreTokenizerType::kQwen2:
      return "qwen2";
    case PreTokenizerType::kStarcoder:
      return "starcoder";
    case PreTokenizerType::kDeepseekLlm:
      return "deepseek-llm";
  }
  return "?";
}

namespace {

using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;

// The explicit character classes of DeepSeek LLM's pre-tokenizer expressions (from its
// tokenizer.json, as llama.cpp copies them), written the way the expressions write them: single
// characters and a-b ranges. Escaped, so that no editor can normalize a look-alike character
// (U+212A KELVIN SIGN is not "K").
constexpr std::string_view kDeepseekLetters =
    "A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293\u0295-"
    "\u02AF\u0370-\u0373\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-\u03A1"
    "\u03A3-\u03F5\u03F7-\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5\u13F8-"
    "\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15"
    "\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D"
    "\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB"
    "\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113\u2115\u2119-\u211D"
    "\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139\u213C-\u213F\u2145-\u2149\u214E\u2183"
    "\u2184\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D\uA680-\uA69B"
    "\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06\uFB13-\uFB17\uFF21-"
    "\uFF3A\uFF41-\uFF5A\U00010400-\U0001044F\U000104B0-\U000104D3\U000104D8-\U000104FB"
    "\U00010C80-\U00010CB2\U00010CC0-\U00010CF2\U000118A0-\U000118DF\U0001E900-\U0001E943";
constexpr std::string_view kDeepseekPunctuation =
    "!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002";
constexpr std::string_view kDeepseekCjk = "\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF";

Ranges parse_class(std::string_view spec) {
  std::vector<uint32_t> cps;
  for (size_t pos = 0; pos < spec.size();) cps.push_back(decode_utf8(spec, pos));
  Ranges ranges;
  for (size_t i = 0; i < cps.size(); ++i) {
    if (i + 2 < cps.size() && cps[i + 1] == '-') {
      ranges.emplace_back(cps[i], cps[i + 2]);
      i += 2;
    } else {
      ranges.emplace_back(cps[i], cps[i]);
    }
  }
  std::sort(ranges.begin(), ranges.end());
  return ranges;
}

// Membership as llama.cpp's std::wregex sees it: it first replaces every non-ASCII White_Space
// codepoint by U+000B, so those never match an explicit class even when listed (U+3000 is).
bool in_ranges(const Ranges& ranges, uint32_t cp) {
  if (cp > 0x7F && unicode_is_whitespace(cp)) return false;
  auto it = std::upper_bound(ranges.begin(), ranges.end(), std::make_pair(cp, ~0u));
  return it != ranges.begin() && std::prev(it)->second >= cp;
}

bool is_letter(uint32_t cp) {
  return unicode_class(cp) == UnicodeClass::kLetter;
}
bool is_number(uint32_t cp) {
  return unicode_class(cp) == UnicodeClass::kNumber;
}
bool is_space(uint32_t cp) {
  return unicode_is_whitespace(cp);
}

// llama.cpp's default expression [\p{P}\$\+<=>\^~\|]+: punctuation plus these ASCII symbols.
bool is_default_punct(uint32_t cp) {
  if (unicode_class(cp) == UnicodeClass::kPunctuation) return true;
  switch (cp) {
    case '$':
    case '+':
    case '<':
    case '=':
    case '>':
    case '^':
    case '~':
    case '|':
      return true;
    default:
      return false;
  }
}

constexpr uint32_t kOutOfRange = 0xFFFFFFFFu;

// Collects the boundaries a pass adds inside one piece [begin, end).
struct Cutter {
  std::vector<uint32_t>& out;
  uint32_t begin;
  uint32_t end;
  void cut(size_t pos) {
    if (pos > begin && pos < end && pos > out.back()) out.push_back(static_cast<uint32_t>(pos));
  }
};

// One piece as llama.cpp's hand-written matchers see it: codepoints outside are "out of range",
// with no flags at all.
struct PieceView {
  const uint32_t* cps;
  size_t begin;
  size_t end;
  bool inside(size_t pos) const { return pos >= begin && pos < end; }
  uint32_t cp(size_t pos) const { return inside(pos) ? cps[pos] : kOutOfRange; }
  bool letter(size_t pos) const { return inside(pos) && is_letter(cps[pos]); }
  bool number(size_t pos) const { return inside(pos) && is_number(cps[pos]); }
  bool space(size_t pos) const { return inside(pos) && is_space(cps[pos]); }
  // [^\s\p{L}\p{N}] for a codepoint inside the piece.
  bool other(size_t pos) const {
    return inside(pos) && !is_space(cps[pos]) && !is_letter(cps[pos]) && !is_number(cps[pos]);
  }
};

uint32_t ascii_lower(uint32_t cp) {
  return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
}

// 's|'t|'re|'ve|'m|'ll|'d (case-insensitively when asked): the length matched at pos, or 0.
size_t match_contraction(const PieceView& v, size_t pos, bool ignore_case) {
  if (v.cp(pos) != '\'' || pos + 1 >= v.end) return 0;
  const auto lower = [&](uint32_t c) { return ignore_case ? ascii_lower(c) : c; };
  const uint32_t n1 = lower(v.cp(pos + 1));
  if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') return 2;
  if (pos + 2 >= v.end) return 0;
  const uint32_t n2 = lower(v.cp(pos + 2));
  if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) return 3;
  return 0;
}

// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
void split_gpt2(const PieceView& v, Cutter& c) {
  for (size_t pos = v.begin; pos < v.end;) {
    if (size_t n = match_contraction(v, pos, false)) {
      pos += n;
      c.cut(pos);
      continue;
    }
    const size_t at = pos + (v.cp(pos) == ' ' ? 1 : 0);  // where the optional space leads
    if (v.letter(at)) {
      pos = at;
      while (v.letter(pos)) ++pos;
      c.cut(pos);
      continue;
    }
    if (v.number(at)) {
      pos = at;
      while (v.number(pos)) ++pos;
      c.cut(pos);
      continue;
    }
    if (v.other(at)) {
      pos = at;
      while (v.other(pos)) ++pos;
      c.cut(pos);
      continue;
    }
    size_t spaces = 0;
    while (v.space(pos + spaces)) ++spaces;
    if (spaces > 1 && pos + spaces < v.end) {
      pos += spaces - 1;  // \s+(?!\S): leave the last space to lead the next word
    } else if (spaces > 0) {
      pos += spaces;
    } else {
      pos += 1;  // nothing matched: the codepoint stands alone
    }
    c.cut(pos);
  }
}

// Llama 3 (max_digits 3) and Qwen2 (max_digits 1):
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
// \s*[\r\n]+|\s+(?!\S)|\s+
void split_llama3(const PieceView& v, Cutter& c, size_t max_digits) {
  for (size_t pos = v.begin; pos < v.end;) {
    const uint32_t cp = v.cp(pos);
    if (size_t n = match_contraction(v, pos, true)) {
      pos += n;
      c.cut(pos);
      continue;
    }
    if (!(cp == '\r' || cp == '\n' || v.number(pos)) && (v.letter(pos) || v.letter(pos + 1))) {
      ++pos;
      while (v.letter(pos)) ++pos;
      c.cut(pos);
      continue;
    }
    if (v.number(pos)) {
      size_t run_start = pos;
      while (v.number(pos)) {
        if (++pos - run_start >= max_digits) {
          c.cut(pos);
          run_start = pos;
        }
      }
      c.cut(pos);
      continue;
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*`. As in llama.cpp, a lone space at the very end of the piece
    // also lands here (the lookahead past the end has no flags and counts as "other").
    const size_t at = pos + (cp == ' ' ? 1 : 0);
    if (v.other(at) || (cp == ' ' && at == v.end)) {
      pos = at;
      while (v.other(pos)) ++pos;
      while (v.cp(pos) == '\r' || v.cp(pos) == '\n') ++pos;
      c.cut(pos);
      continue;
    }
    size_t spaces = 0;
    size_t after_last_newline = 0;
    while (v.space(pos + spaces)) {
      const uint32_t s = v.cp(pos + spaces);
      if (s == '\r' || s == '\n') after_last_newline = pos + spaces + 1;
      ++spaces;
    }
    if (after_last_newline > 0) {
      pos = after_last_newline;  // \s*[\r\n]+
    } else if (spaces > 1 && pos + spaces < v.end) {
      pos += spaces - 1;  // \s+(?!\S)
    } else if (spaces > 0) {
      pos += spaces;
    } else {
      pos += 1;
    }
    c.cut(pos);
  }
}

// Regex passes that isolate each match of a simple expression; text between matches stays one
// piece. `match` returns the length of the match starting at pos, or 0.
template <typename MatchAt>
void split_matches(const PieceView& v, Cutter& c, MatchAt match) {
  for (size_t pos = v.begin; pos < v.end;) {
    const size_t n = match(pos);
    if (n == 0) {
      ++pos;
      continue;
    }
    c.cut(pos);
    pos += n;
    c.cut(pos);
  }
}

template <typename Pred>
size_t run_length(const PieceView& v, size_t pos, Pred pred) {
  size_t n = 0;
  while (v.inside(pos + n) && pred(v.cps[pos + n])) ++n;
  return n;
}

enum class Pass {
  kGpt2,
  kLlama3,
  kQwen2,
  kDefaultPunctRun,   // [\p{P}\$\+<=>\^~\|]+
  kNumberRun,         // \p{N}+
  kNumberSingle,      // \p{N}
  kAsciiDigitTriple,  // [0-9][0-9][0-9]
  kCrLf,              // [\r\n]
  kDeepseekLetters,   // \s?[A-Za-zµÀ-Ö...]+
  kDeepseekPunct,     // \s?[!-/:-~！-／：-～‘-‟　-。]+
  kTrailingSpace,     // \s+$
  kDeepseekCjk,       // [一-龥ࠀ-一가-퟿]+
};

std::vector<Pass> passes_for(PreTokenizerType type) {
  switch (type) {
    case PreTokenizerType::kDefault:
      return {Pass::kDefaultPunctRun, Pass::kGpt2, Pass::kNumberRun, Pass::kAsciiDigitTriple};
    case PreTokenizerType::kGpt2:
      return {Pass::kGpt2};
    case PreTokenizerType::kLlama3:
      return {Pass::kLlama3};
    case PreTokenizerType::kQwen2:
      return {Pass::kQwen2};
    case PreTokenizerType::kStarcoder:
      return {Pass::kNumberSingle, Pass::kGpt2};
    case PreTokenizerType::kDeepseekLlm:
      return {Pass::kCrLf,          Pass::kDeepseekLetters, Pass::kDeepseekPunct,
              Pass::kTrailingSpace, Pass::kDeepseekCjk,     Pass::kNumberRun};
  }
  return {Pass::kGpt2};
}

struct DeepseekClasses {
  Ranges letters = parse_class(kDeepseekLetters);
  Ranges punctuation = parse_class(kDeepseekPunctuation);
  Ranges cjk = parse_class(kDeepseekCjk);
};

// Built once on first use and never modified: a constant table.
const DeepseekClasses& deepseek_classes() {
  static const DeepseekClasses classes;
  return classes;
}

void run_pass(Pass pass, const PieceView& v, Cutter& c) {
  switch (pass) {
    case Pass::kGpt2:
      split_gpt2(v, c);
      return;
    case Pass::kLlama3:
      split_llama3(v, c, 3);
      return;
    case Pass::kQwen2:
      split_llama3(v, c, 1);
      return;
    case Pass::kDefaultPunctRun:
      split_matches(v, c, [&](size_t pos) { return run_length(v, pos, is_default_punct); });
      return;
    case Pass::kNumberRun:
      split_matches(v, c, [&](size_t pos) { return run_length(v, pos, is_number); });
      return;
    case Pass::kNumberSingle:
      split_matches(v, c, [&](size_t pos) -> size_t { return v.number(pos) ? 1 : 0; });
      return;
    case Pass::kAsciiDigitTriple:
      split_matches(v, c, [&](size_t pos) -> size_t {
        const auto digit = [&](size_t p) {
          return v.inside(p) && v.cps[p] >= '0' && v.cps[p] <= '9';
        };
        return digit(pos) && digit(pos + 1) && digit(pos + 2) ? 3 : 0;
      });
      return;
    case Pass::kCrLf:
      split_matches(v, c, [&](size_t pos) -> size_t {
        return v.cp(pos) == '\r' || v.cp(pos) == '\n' ? 1 : 0;
      });
      return;
    case Pass::kDeepseekLetters:
    case Pass::kDeepseekPunct: {
      const Ranges& ranges = pass == Pass::kDeepseekLetters ? deepseek_classes().letters
                                                            : deepseek_classes().punctuation;
      const auto member = [&](uint32_t cp) { return in_ranges(ranges, cp); };
      split_matches(v, c, [&](size_t pos) -> size_t {
        // \s?X+ : X never contains whitespace, so backing off the optional \s cannot help.
        if (v.space(pos)) {
          const size_t n = run_length(v, pos + 1, member);
          return n > 0 ? n + 1 : 0;
        }
        return run_length(v, pos, member);
      });
      return;
    }
    case Pass::kTrailingSpace: {
      size_t start = v.end;
      while (start > v.begin && v.space(start - 1)) --start;
      c.cut(start);
      return;
    }
    case Pass::kDeepseekCjk: {
      const auto member = [&](uint32_t cp) { return in_ranges(deepseek_classes().cjk, cp); };
      split_matches(v, c, [&](size_t pos) { return run_length(v, pos, member); });
      return;
    }
  }
}

}  // namespace

PreTokenizer::PreTokenizer(PreTokenizerType type) : type_(type) {
  if (type == PreTokenizerType::kDeepseekLlm) deepseek_classes();
}

void PreTokenizer::split(std::string_view text, PreTokenizerScratch& s, std::vector<TextPiece>& out,
                         std::string_view& text_out) const {
  text_out = text;
  if (text.empty()) return;
  s.codepoints.clear();
  s.offsets.clear();
  bool well_formed = true;
  for (size_t pos = 0; pos < text.size();) {
    const size_t start = pos;
    const uint32_t cp = decode_utf8(text, pos);
    well_formed &= (pos - start) == utf8_length_of(cp);
    s.codepoints.push_back(cp);
    s.offsets.push_back(static_cast<uint32_t>(start));
  }
  s.offsets.push_back(static_cast<uint32_t>(text.size()));
  if (!well_formed) {
    // llama.cpp rebuilds each piece from the decoded codepoints, so malformed bytes come out as
    // U+FFFD; do the same once for the whole text.
    s.sanitized.clear();
    for (size_t i = 0; i < s.codepoints.size(); ++i) {
      s.offsets[i] = static_cast<uint32_t>(s.sanitized.size());
      append_utf8(s.codepoints[i], s.sanitized);
    }
    s.offsets.back() = static_cast<uint32_t>(s.sanitized.size());
    text_out = s.sanitized;
  }

  const uint32_t n = static_cast<uint32_t>(s.codepoints.size());
  s.pieces.assign({0, n});
  for (Pass pass : passes_for(type_)) {
    s.next.clear();
    for (size_t i = 0; i + 1 < s.pieces.size(); ++i) {
      const uint32_t begin = s.pieces[i];
      const uint32_t end = s.pieces[i + 1];
      s.next.push_back(begin);
      Cutter cutter{s.next, begin, end};
      run_pass(pass, PieceView{s.codepoints.data(), begin, end}, cutter);
    }
    s.next.push_back(n);
    std::swap(s.pieces, s.next);
  }
  for (size_t i = 0; i + 1 < s.pieces.size(); ++i) {
    out.push_back(TextPiece{s.offsets[s.pieces[i]], s.offsets[s.pieces[i + 1]]});
  }
}

std::vector<std::string> PreTokenizer::split_to_strings(std::string_view text) const {
  PreTokenizerScratch scratch;
  std::vector<TextPiece> pieces;
  std::string_view used;
  split(text, scratch, pieces, used);
  std::vector<std::string> out;
  for (const auto& p : pieces) out.emplace_back(used.substr(p.begin, p.end - p.begin));
  return out;
}

}  // namespace lathe::tokenizer
