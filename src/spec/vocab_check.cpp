#include "spec/vocab_check.h"

#include <algorithm>
#include <cstdio>
#include <string>

namespace lathe::spec {

namespace {

// A token's text for an error line: quoted, with control bytes escaped so the line stays one
// line, and long texts cut.
std::string quoted(std::string_view text) {
  std::string out = "'";
  size_t n = 0;
  for (char c : text) {
    if (++n > 48) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "'";
}

const char* type_name(tokenizer::VocabType t) {
  return t == tokenizer::VocabType::kSpm ? "SPM" : "BPE";
}

}  // namespace

Status check_vocab_compatible(const tokenizer::Vocab& target, const tokenizer::Vocab& draft) {
  if (target.type() != draft.type()) {
    return invalid_argument("the draft's vocabulary is ", type_name(draft.type()),
                            " but the target's is ", type_name(target.type()),
                            " (speculative decoding needs the same tokens)");
  }
  if (target.add_bos() != draft.add_bos() || (target.add_bos() && target.bos() != draft.bos())) {
    return invalid_argument("the draft's BOS token (", draft.add_bos() ? "added" : "not added",
                            ", id ", draft.bos(), ") differs from the target's (",
                            target.add_bos() ? "added" : "not added", ", id ", target.bos(), ")");
  }
  if (target.add_eos() != draft.add_eos() || (target.add_eos() && target.eos() != draft.eos())) {
    return invalid_argument("the draft's EOS token (", draft.add_eos() ? "added" : "not added",
                            ", id ", draft.eos(), ") differs from the target's (",
                            target.add_eos() ? "added" : "not added", ", id ", target.eos(), ")");
  }
  const int32_t n = std::min(target.n_tokens(), draft.n_tokens());
  for (int32_t id = kVocabCheckStartId; id < n; ++id) {
    if (target.text(id) != draft.text(id)) {
      return invalid_argument("the draft's vocabulary differs from the target's at token ", id,
                              ": target ", quoted(target.text(id)), ", draft ",
                              quoted(draft.text(id)),
                              " (speculative decoding needs the same tokens)");
    }
  }
  const int32_t diff = std::abs(target.n_tokens() - draft.n_tokens());
  if (diff > kMaxVocabSizeDifference) {
    return invalid_argument("the draft's vocabulary has ", draft.n_tokens(),
                            " tokens and the target's ", target.n_tokens(), ": they differ by ",
                            diff, ", more than the ", kMaxVocabSizeDifference, " allowed");
  }
  return Status();
}

}  // namespace lathe::spec
