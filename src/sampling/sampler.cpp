#include "sampling/sampler.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <system_error>

namespace lathe::sampling {
namespace {

struct KindInfo {
  SamplerKind kind;
  char letter;
  std::string_view name;
};

constexpr KindInfo kKinds[] = {
    {SamplerKind::kPenalties, 'e', "penalties"},
    {SamplerKind::kDry, 'd', "dry"},
    {SamplerKind::kTopNSigma, 's', "top_n_sigma"},
    {SamplerKind::kTopK, 'k', "top_k"},
    {SamplerKind::kTypicalP, 'y', "typ_p"},
    {SamplerKind::kTopP, 'p', "top_p"},
    {SamplerKind::kMinP, 'm', "min_p"},
    {SamplerKind::kXtc, 'x', "xtc"},
    {SamplerKind::kTemperature, 't', "temperature"},
};

// Every spelling llama.cpp's --samplers accepts for the stages lathe has: the canonical name, its
// kebab-case and no-dash forms, and the few extra aliases.
struct NameAlias {
  std::string_view name;
  SamplerKind kind;
};
constexpr NameAlias kNameAliases[] = {
    {"penalties", SamplerKind::kPenalties},
    {"dry", SamplerKind::kDry},
    {"top_n_sigma", SamplerKind::kTopNSigma},
    {"top-n-sigma", SamplerKind::kTopNSigma},
    {"topnsigma", SamplerKind::kTopNSigma},
    {"top_k", SamplerKind::kTopK},
    {"top-k", SamplerKind::kTopK},
    {"topk", SamplerKind::kTopK},
    {"typ_p", SamplerKind::kTypicalP},
    {"typ-p", SamplerKind::kTypicalP},
    {"typp", SamplerKind::kTypicalP},
    {"typ", SamplerKind::kTypicalP},
    {"top_p", SamplerKind::kTopP},
    {"top-p", SamplerKind::kTopP},
    {"topp", SamplerKind::kTopP},
    {"nucleus", SamplerKind::kTopP},
    {"min_p", SamplerKind::kMinP},
    {"min-p", SamplerKind::kMinP},
    {"minp", SamplerKind::kMinP},
    {"xtc", SamplerKind::kXtc},
    {"temperature", SamplerKind::kTemperature},
    {"temp", SamplerKind::kTemperature},
};

// Stages llama.cpp has that lathe does not implement; named in the error instead of "unknown".
constexpr std::string_view kUnsupportedNames[] = {"infill", "adaptive_p", "adaptive-p",
                                                  "adaptivep"};
constexpr std::string_view kUnsupportedLetters = "ia";

bool is_separator(char ch) {
  return ch == ',' || ch == ';' || ch == ' ' || ch == '\t';
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

const KindInfo* kind_by_letter(char letter) {
  for (const KindInfo& info : kKinds) {
    if (info.letter == letter) return &info;
  }
  return nullptr;
}

std::string format_float(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", static_cast<double>(v));
  return buf;
}

bool in_unit_interval(float v) {
  return v >= 0.0f && v <= 1.0f;
}  // false for NaN

// The fused top-k scan keeps a heap of k candidates; past this k, materializing the candidates and
// selecting with nth_element costs about the same and the plain path is simpler.
constexpr int32_t kFusedTopKMax = 1024;

// llama.cpp's repetition rule: dividing a negative logit by the penalty would make the token more
// likely, so negative logits are multiplied instead. Frequency and presence subtract.
float penalize(float logit, int32_t count, float repeat, float freq, float presence) {
  logit = logit <= 0.0f ? logit * repeat : logit / repeat;
  return logit - (static_cast<float>(count) * freq + presence);
}

}  // namespace

char sampler_letter(SamplerKind kind) {
  for (const KindInfo& info : kKinds) {
    if (info.kind == kind) return info.letter;
  }
  return '?';
}

std::string_view sampler_name(SamplerKind kind) {
  for (const KindInfo& info : kKinds) {
    if (info.kind == kind) return info.name;
  }
  return "?";
}

std::vector<SamplerKind> default_sampler_sequence() {
  return {SamplerKind::kPenalties, SamplerKind::kDry,      SamplerKind::kTopNSigma,
          SamplerKind::kTopK,      SamplerKind::kTypicalP, SamplerKind::kTopP,
          SamplerKind::kMinP,      SamplerKind::kXtc,      SamplerKind::kTemperature};
}

Expected<std::vector<SamplerKind>> parse_sampler_sequence(std::string_view text) {
  std::vector<SamplerKind> out;
  size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && is_separator(text[pos])) ++pos;
    size_t end = pos;
    while (end < text.size() && !is_separator(text[end])) ++end;
    if (end == pos) break;
    const std::string word = to_lower(text.substr(pos, end - pos));
    pos = end;

    bool matched = false;
    for (const NameAlias& alias : kNameAliases) {
      if (alias.name == word) {
        out.push_back(alias.kind);
        matched = true;
        break;
      }
    }
    if (matched) continue;
    for (std::string_view name : kUnsupportedNames) {
      if (name == word) {
        return unsupported("sampler '", word, "' in --sampling-seq \"", text,
                           "\" is not implemented by lathe");
      }
    }
    // Not a name: a run of letters such as "kmt".
    for (char letter : word) {
      if (const KindInfo* info = kind_by_letter(letter)) {
        out.push_back(info->kind);
      } else if (kUnsupportedLetters.find(letter) != std::string_view::npos) {
        return unsupported("sampler letter '", letter, "' in --sampling-seq \"", text,
                           "\" is not implemented by lathe");
      } else {
        return invalid_argument("unknown sampler '", word, "' in --sampling-seq \"", text,
                                "\" (letters: e d s k y p m x t, or names such as "
                                "top_k;min_p;temperature)");
      }
    }
  }
  return out;
}

std::string sampler_sequence_letters(std::span<const SamplerKind> sequence) {
  std::string out;
  for (SamplerKind kind : sequence) out.push_back(sampler_letter(kind));
  return out;
}

Expected<LogitBias> parse_logit_bias(std::string_view text) {
  const auto bad = [&] {
    return invalid_argument("--logit-bias \"", text,
                            "\": expected TOKEN_ID+BIAS or TOKEN_ID-BIAS, e.g. 15043+1 or 2-inf");
  };
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits + 1 >= text.size()) return bad();
  const char sign = text[digits];
  if (sign != '+' && sign != '-') return bad();

  int32_t token = 0;
  const auto [tok_end, tok_err] = std::from_chars(text.data(), text.data() + digits, token);
  if (tok_err != std::errc() || tok_end != text.data() + digits) return bad();

  const char* first = text.data() + digits + 1;
  const char* last = text.data() + text.size();
  float value = 0.0f;
  const auto [val_end, val_err] = std::from_chars(first, last, value);
  if (val_err != std::errc() || val_end != last || std::isnan(value)) return bad();
  return LogitBias{token, sign == '-' ? -value : value};
}

Status SamplerParams::validate(int32_t n_vocab) const {
  if (n_vocab <= 0)
    return invalid_argument("sampler: vocabulary size must be positive, got ", n_vocab);
  if (!std::isfinite(temp)) return invalid_argument("--temp must be a finite number, got ", temp);
  if (!in_unit_interval(top_p)) return invalid_argument("--top-p must be in [0, 1], got ", top_p);
  if (!in_unit_interval(min_p)) return invalid_argument("--min-p must be in [0, 1], got ", min_p);
  if (!in_unit_interval(typical_p)) {
    return invalid_argument("--typical must be in [0, 1], got ", typical_p);
  }
  if (!std::isfinite(top_n_sigma)) {
    return invalid_argument("--top-nsigma must be a finite number, got ", top_n_sigma);
  }
  if (repeat_last_n < 0) {
    return invalid_argument("--repeat-last-n must be >= 0 (0 disables the penalties), got ",
                            repeat_last_n);
  }
  if (!std::isfinite(repeat_penalty) || repeat_penalty <= 0.0f) {
    return invalid_argument("--repeat-penalty must be finite and greater than 0, got ",
                            repeat_penalty);
  }
  if (!std::isfinite(presence_penalty)) {
    return invalid_argument("--presence-penalty must be finite, got ", presence_penalty);
  }
  if (!std::isfinite(frequency_penalty)) {
    return invalid_argument("--frequency-penalty must be finite, got ", frequency_penalty);
  }
  if (min_keep < 0) return invalid_argument("sampler: min_keep must be >= 0, got ", min_keep);
  for (const LogitBias& lb : logit_bias) {
    if (lb.token < 0 || lb.token >= n_vocab) {
      return invalid_argument("--logit-bias: token ", lb.token, " is outside the vocabulary (0..",
                              n_vocab - 1, ")");
    }
    if (std::isnan(lb.bias) || lb.bias == std::numeric_limits<float>::infinity()) {
      return invalid_argument("--logit-bias: token ", lb.token, " has bias ", lb.bias,
                              "; it must be finite or -inf");
    }
  }
  for (SamplerKind kind : sequence) {
    if (static_cast<uint8_t>(kind) > static_cast<uint8_t>(SamplerKind::kTemperature)) {
      return invalid_argument("--sampling-seq: invalid sampler kind ", static_cast<int>(kind));
    }
  }
  return Status::ok_status();
}

namespace {

uint32_t resolve_seed(uint32_t seed) {
  if (seed != kRandomSeed) return seed;
  uint32_t value = 0;
  try {
    std::random_device device;
    value = device();
  } catch (...) {
    // No entropy source: the clock still gives different runs different streams.
    value = static_cast<uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  // kRandomSeed itself would read as "pick one" if the caller reused it.
  return value == kRandomSeed ? value - 1 : value;
}

bool stage_enabled(SamplerKind kind, const SamplerParams& p) {
  switch (kind) {
    case SamplerKind::kPenalties:
      return p.repeat_last_n != 0 && (p.repeat_penalty != 1.0f || p.frequency_penalty != 0.0f ||
                                      p.presence_penalty != 0.0f);
    case SamplerKind::kDry:
    case SamplerKind::kXtc:
      return false;
    case SamplerKind::kTopNSigma:
      return p.top_n_sigma > 0.0f;
    case SamplerKind::kTopK:
      return p.top_k > 0;
    case SamplerKind::kTypicalP:
      return p.typical_p < 1.0f;
    case SamplerKind::kTopP:
      return p.top_p < 1.0f;
    case SamplerKind::kMinP:
      return p.min_p > 0.0f;
    case SamplerKind::kTemperature:
      return p.temp != 1.0f;  // dividing by 1 changes nothing
  }
  return false;
}

}  // namespace

Expected<Sampler> Sampler::create(const SamplerParams& params, int32_t n_vocab) {
  LATHE_RETURN_IF_ERROR(params.validate(n_vocab));
  Sampler s;
  s.params_ = params;
  s.n_vocab_ = n_vocab;
  s.seed_ = resolve_seed(params.seed);
  s.rng_.seed(s.seed_);

  bool penalties = false;
  for (SamplerKind kind : params.sequence) {
    if (!stage_enabled(kind, params)) continue;
    s.stages_.push_back(kind);
    penalties |= kind == SamplerKind::kPenalties;
  }
  if (penalties) {
    s.ring_.assign(static_cast<size_t>(params.repeat_last_n), 0);
    s.distinct_.reserve(s.ring_.size());
    s.counts_.assign(static_cast<size_t>(n_vocab), 0);
  }
  for (size_t i = 0; i < s.stages_.size(); ++i) {
    if (s.stages_[i] == SamplerKind::kTopK) {
      if (params.top_k < n_vocab && params.top_k <= kFusedTopKMax) s.fused_stages_ = i + 1;
      break;
    }
    if (s.stages_[i] != SamplerKind::kPenalties) break;
  }
  if (s.fused_stages_ > 0) {
    s.heap_.reserve(static_cast<size_t>(params.top_k));
    s.overrides_.reserve(s.ring_.size() + params.logit_bias.size());
  }

  s.bias_ = params.logit_bias;
  std::sort(s.bias_.begin(), s.bias_.end(),
            [](const LogitBias& a, const LogitBias& b) { return a.token < b.token; });
  size_t out = 0;
  for (size_t i = 0; i < s.bias_.size(); ++i) {
    if (out > 0 && s.bias_[out - 1].token == s.bias_[i].token) {
      s.bias_[out - 1].bias += s.bias_[i].bias;
    } else {
      s.bias_[out++] = s.bias_[i];
    }
  }
  s.bias_.resize(out);
  return s;
}

void Sampler::apply_logit_bias() {
  if (bias_.empty()) return;
  if (cand_.identity()) {
    for (const LogitBias& lb : bias_) cand_[static_cast<size_t>(lb.token)].logit += lb.bias;
  } else {
    for (TokenData& td : cand_.view()) {
      auto it = std::lower_bound(bias_.begin(), bias_.end(), td.id,
                                 [](const LogitBias& lb, int32_t id) { return lb.token < id; });
      if (it != bias_.end() && it->token == td.id) td.logit += it->bias;
    }
  }
  cand_.set_sorted(false);
}

void Sampler::collect_history_tokens() {
  distinct_.assign(ring_.begin(), ring_.begin() + static_cast<std::ptrdiff_t>(ring_size_));
  std::sort(distinct_.begin(), distinct_.end());
  distinct_.erase(std::unique(distinct_.begin(), distinct_.end()), distinct_.end());
}

void Sampler::apply_penalties() {
  if (ring_size_ == 0) return;
  const float repeat = params_.repeat_penalty;
  const float freq = params_.frequency_penalty;
  const float presence = params_.presence_penalty;
  if (cand_.identity()) {
    // Touch only the tokens in the history instead of scanning the whole vocabulary.
    collect_history_tokens();
    for (int32_t token : distinct_) {
      TokenData& td = cand_[static_cast<size_t>(token)];
      td.logit = penalize(td.logit, counts_[static_cast<size_t>(token)], repeat, freq, presence);
    }
  } else {
    for (TokenData& td : cand_.view()) {
      const int32_t count = counts_[static_cast<size_t>(td.id)];
      if (count > 0) td.logit = penalize(td.logit, count, repeat, freq, presence);
    }
  }
  cand_.set_sorted(false);
}

void Sampler::select_top_k_fused(std::span<const float> logits) {
  const size_t k = static_cast<size_t>(params_.top_k);
  const size_t n = logits.size();
  const float* x = logits.data();
  const auto sanitize = [](float l) {
    return std::isnan(l) ? -std::numeric_limits<float>::infinity() : l;
  };

  // The few tokens whose logit the bias or the penalties change, with their final values. The scan
  // below skips them and they compete afterwards with those values.
  const size_t penalty_passes = fused_stages_ - 1;  // only penalties precede top-k here
  if (penalty_passes > 0 && ring_size_ > 0) {
    collect_history_tokens();
  } else {
    distinct_.clear();
  }
  overrides_.clear();
  size_t bi = 0;
  size_t hi = 0;
  while (bi < bias_.size() || hi < distinct_.size()) {
    int32_t token;
    if (hi == distinct_.size() || (bi < bias_.size() && bias_[bi].token <= distinct_[hi])) {
      token = bias_[bi].token;
    } else {
      token = distinct_[hi];
    }
    float v = sanitize(x[token]);
    if (bi < bias_.size() && bias_[bi].token == token) v += bias_[bi++].bias;
    if (hi < distinct_.size() && distinct_[hi] == token) {
      ++hi;
      const int32_t count = counts_[static_cast<size_t>(token)];
      for (size_t pass = 0; pass < penalty_passes; ++pass) {
        v = penalize(v, count, params_.repeat_penalty, params_.frequency_penalty,
                     params_.presence_penalty);
      }
    }
    overrides_.push_back({token, v, 0.0f});
  }
  const auto is_override = [&](size_t i) {
    if (overrides_.empty()) return false;
    auto it = std::lower_bound(overrides_.begin(), overrides_.end(), static_cast<int32_t>(i),
                               [](const TokenData& t, int32_t id) { return t.id < id; });
    return it != overrides_.end() && it->id == static_cast<int32_t>(i);
  };

  // A heap whose front is the worst of the k best so far (std heaps put the comparator's maximum
  // on top, and ranks_before ranks better tokens as "less").
  heap_.clear();
  size_t i = 0;
  for (; i < n && heap_.size() < k; ++i) {
    if (is_override(i)) continue;
    heap_.push_back({static_cast<int32_t>(i), sanitize(x[i]), 0.0f});
    std::push_heap(heap_.begin(), heap_.end(), ranks_before);
  }
  if (heap_.size() == k) {
    float worst = heap_.front().logit;
    // Ids only grow during the scan, so an equal logit never ranks before the heap's worst; NaN
    // fails the comparison and is never selected.
    for (i = find_greater(x, i, n, worst); i < n; i = find_greater(x, i + 1, n, worst)) {
      if (is_override(i)) continue;
      std::pop_heap(heap_.begin(), heap_.end(), ranks_before);
      heap_.back() = {static_cast<int32_t>(i), x[i], 0.0f};
      std::push_heap(heap_.begin(), heap_.end(), ranks_before);
      worst = heap_.front().logit;
    }
  }
  for (const TokenData& o : overrides_) {
    if (heap_.size() < k) {
      heap_.push_back(o);
      std::push_heap(heap_.begin(), heap_.end(), ranks_before);
    } else if (ranks_before(o, heap_.front())) {
      std::pop_heap(heap_.begin(), heap_.end(), ranks_before);
      heap_.back() = o;
      std::push_heap(heap_.begin(), heap_.end(), ranks_before);
    }
  }
  std::sort_heap(heap_.begin(), heap_.end(), ranks_before);  // best first
  cand_.load(heap_, /*sorted=*/true);
}

Expected<std::span<const TokenData>> Sampler::distribution(std::span<const float> logits) {
  have_distribution_ = false;
  if (logits.size() != static_cast<size_t>(n_vocab_)) {
    return invalid_argument("sampler: got ", logits.size(), " logits for a vocabulary of ",
                            n_vocab_);
  }
  if (fused_stages_ > 0) {
    select_top_k_fused(logits);
  } else {
    cand_.reset(logits);
    apply_logit_bias();
  }
  const size_t min_keep = static_cast<size_t>(params_.min_keep);
  for (size_t stage = fused_stages_; stage < stages_.size(); ++stage) {
    switch (stages_[stage]) {
      case SamplerKind::kPenalties:
        apply_penalties();
        break;
      case SamplerKind::kTopNSigma:
        top_n_sigma(cand_, params_.top_n_sigma);
        break;
      case SamplerKind::kTopK:
        top_k(cand_, params_.top_k);
        break;
      case SamplerKind::kTypicalP:
        typical(cand_, params_.typical_p, min_keep);
        break;
      case SamplerKind::kTopP:
        top_p(cand_, params_.top_p, min_keep);
        break;
      case SamplerKind::kMinP:
        min_p(cand_, params_.min_p, min_keep);
        break;
      case SamplerKind::kTemperature:
        temperature(cand_, params_.temp);
        break;
      case SamplerKind::kDry:
      case SamplerKind::kXtc:
        break;
    }
  }
  if (softmax(cand_) == -std::numeric_limits<float>::infinity()) {
    return invalid_argument(
        "sampler: every candidate has a logit of -inf (all banned by "
        "--logit-bias?)");
  }
  have_distribution_ = true;
  return std::span<const TokenData>(cand_.view());
}

double Sampler::uniform() {
  // 53 random bits from two 32-bit outputs: the same stream on every standard library, unlike
  // std::uniform_real_distribution whose algorithm is implementation-defined.
  const uint64_t hi = rng_() >> 5;  // 27 bits
  const uint64_t lo = rng_() >> 6;  // 26 bits
  return static_cast<double>((hi << 26) | lo) * 0x1.0p-53;
}

Expected<int32_t> Sampler::draw() {
  if (!have_distribution_) {
    return invalid_argument("sampler: draw() needs a successful distribution() first");
  }
  // One number per draw, even for a single candidate, so the stream does not depend on how many
  // candidates survived.
  const double u = uniform();
  return cand_[draw_index(cand_, u)].id;
}

Expected<int32_t> Sampler::sample(std::span<const float> logits) {
  LATHE_RETURN_IF_ERROR(distribution(logits).status());
  return draw();
}

float Sampler::probability(int32_t token) const {
  if (!have_distribution_) return 0.0f;
  for (const TokenData& td : cand_.view()) {
    if (td.id == token) return td.p;
  }
  return 0.0f;
}

Status Sampler::accept(int32_t token) {
  if (token < 0 || token >= n_vocab_) {
    return invalid_argument("sampler: accepted token ", token, " is outside the vocabulary (0..",
                            n_vocab_ - 1, ")");
  }
  if (ring_.empty()) return Status::ok_status();
  if (ring_size_ == ring_.size()) {
    --counts_[static_cast<size_t>(ring_[ring_head_])];
  } else {
    ++ring_size_;
  }
  ring_[ring_head_] = token;
  ++counts_[static_cast<size_t>(token)];
  ring_head_ = (ring_head_ + 1) % ring_.size();
  return Status::ok_status();
}

void Sampler::reset() {
  for (size_t i = 0; i < ring_size_; ++i) {
    const size_t slot = (ring_head_ + ring_.size() - 1 - i) % ring_.size();
    --counts_[static_cast<size_t>(ring_[slot])];
  }
  ring_size_ = 0;
  ring_head_ = 0;
  rng_.seed(seed_);
  have_distribution_ = false;
}

std::string Sampler::describe() const {
  std::string out = "logits";
  if (!bias_.empty()) out += cat(" -> logit-bias(", bias_.size(), " tokens)");
  for (SamplerKind kind : stages_) {
    out += " -> ";
    out += sampler_name(kind);
    switch (kind) {
      case SamplerKind::kPenalties:
        out += cat("(last_n ", params_.repeat_last_n, ", repeat ",
                   format_float(params_.repeat_penalty), ", freq ",
                   format_float(params_.frequency_penalty), ", present ",
                   format_float(params_.presence_penalty), ")");
        break;
      case SamplerKind::kTopNSigma:
        out += cat("(", format_float(params_.top_n_sigma), ")");
        break;
      case SamplerKind::kTopK:
        out += cat("(", params_.top_k, ")");
        break;
      case SamplerKind::kTypicalP:
        out += cat("(", format_float(params_.typical_p), ")");
        break;
      case SamplerKind::kTopP:
        out += cat("(", format_float(params_.top_p), ")");
        break;
      case SamplerKind::kMinP:
        out += cat("(", format_float(params_.min_p), ")");
        break;
      case SamplerKind::kTemperature:
        out += params_.temp <= 0.0f ? std::string("(greedy)")
                                    : cat("(", format_float(params_.temp), ")");
        break;
      case SamplerKind::kDry:
      case SamplerKind::kXtc:
        break;
    }
  }
  out += cat(" -> dist(seed ", seed_, ")");
  return out;
}

}  // namespace lathe::sampling
