#include "convert/llama2c.h"

#include <cstring>

namespace lathe::convert {

namespace {

constexpr size_t kV1HeaderBytes = 256;

int kind_index(Llama2cWeight w) {
  return static_cast<int>(w);
}

// a * b, or false on overflow.
bool mul(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}

Status check_config(const Llama2cConfig& c) {
  const std::pair<const char*, int64_t> fields[] = {
      {"dim", c.dim},         {"hidden_dim", c.hidden_dim}, {"n_layers", c.n_layers},
      {"n_heads", c.n_heads}, {"n_kv_heads", c.n_kv_heads}, {"vocab_size", c.vocab_size},
      {"seq_len", c.seq_len},
  };
  for (const auto& [name, value] : fields) {
    if (value <= 0) return format_error("header field ", name, " is ", value, ", not positive");
  }
  if (c.dim % c.n_heads != 0) {
    return format_error("dim ", c.dim, " is not a multiple of n_heads ", c.n_heads);
  }
  if (c.n_kv_heads > c.n_heads || c.n_heads % c.n_kv_heads != 0) {
    return format_error("n_heads ", c.n_heads, " is not a multiple of n_kv_heads ", c.n_kv_heads);
  }
  if (c.head_size() % 2 != 0) {
    return format_error("head size ", c.head_size(), " is odd (rope rotates pairs)");
  }
  return Status();
}

}  // namespace

Expected<Llama2cCheckpoint> Llama2cCheckpoint::open(const std::string& path) {
  LATHE_ASSIGN_OR_RETURN(MappedFile file, MappedFile::open(path));
  return parse(std::move(file), path);
}

int64_t Llama2cCheckpoint::rows(Llama2cWeight w) const {
  const Llama2cConfig& c = config_;
  switch (w) {
    case Llama2cWeight::kTokenEmbedding:
    case Llama2cWeight::kClassifier:
      return c.vocab_size;
    case Llama2cWeight::kWq:
    case Llama2cWeight::kWo:
    case Llama2cWeight::kW2:
      return c.dim;
    case Llama2cWeight::kWk:
    case Llama2cWeight::kWv:
      return c.kv_dim();
    case Llama2cWeight::kW1:
    case Llama2cWeight::kW3:
      return c.hidden_dim;
    default:
      return 1;  // norms
  }
}

int64_t Llama2cCheckpoint::cols(Llama2cWeight w) const {
  return w == Llama2cWeight::kW2 ? config_.hidden_dim : config_.dim;
}

bool Llama2cCheckpoint::per_layer(Llama2cWeight w) const {
  return w != Llama2cWeight::kTokenEmbedding && w != Llama2cWeight::kRmsFinal &&
         w != Llama2cWeight::kClassifier;
}

Expected<Llama2cCheckpoint> Llama2cCheckpoint::parse(MappedFile bytes, std::string name) {
  auto fail = [&](const Status& s) { return s.with_context(name); };
  const uint64_t size = bytes.size();
  Llama2cCheckpoint ck;
  ck.path_ = name;
  Llama2cConfig& c = ck.config_;
  int32_t params[7];
  uint64_t pos = 0;
  uint32_t magic = 0;
  if (size >= 4) std::memcpy(&magic, bytes.data(), 4);
  if (magic == kLlama2cMagic) {
    if (size < kV1HeaderBytes) {
      return fail(format_error("truncated: ", size, " bytes, less than the 256-byte header"));
    }
    int32_t version = 0;
    std::memcpy(&version, bytes.data() + 4, 4);
    if (version != 1) {
      return fail(unsupported("llama2.c checkpoint version ", version,
                              " is not supported (lathe reads the legacy format and version 1; "
                              "version 2 holds int8 weights: export with --version 1)"));
    }
    std::memcpy(params, bytes.data() + 8, sizeof params);
    c.version = 1;
    c.shared_classifier = bytes.data()[8 + sizeof params] != 0;
    pos = kV1HeaderBytes;
  } else {
    if (size < sizeof params) {
      return fail(format_error("truncated: ", size, " bytes, less than the 28-byte header"));
    }
    std::memcpy(params, bytes.data(), sizeof params);
    // The legacy format's only flag: a negative vocab size says a classifier follows.
    c.shared_classifier = params[5] > 0;
    if (params[5] == INT32_MIN) return fail(format_error("header field vocab_size is invalid"));
    params[5] = params[5] < 0 ? -params[5] : params[5];
    pos = sizeof params;
  }
  c.dim = params[0];
  c.hidden_dim = params[1];
  c.n_layers = params[2];
  c.n_heads = params[3];
  c.n_kv_heads = params[4];
  c.vocab_size = params[5];
  c.seq_len = params[6];
  if (Status s = check_config(c); !s.ok()) return fail(s);

  // Lays the kinds out in file order, checking every size for overflow.
  bool overflow = false;
  auto floats = [&](std::initializer_list<uint64_t> dims) {
    uint64_t n = 1;
    for (uint64_t d : dims) overflow |= !mul(n, d, &n);
    overflow |= !mul(n, sizeof(float), &n);
    return n;
  };
  const uint64_t L = static_cast<uint64_t>(c.n_layers), D = static_cast<uint64_t>(c.dim),
                 H = static_cast<uint64_t>(c.hidden_dim), V = static_cast<uint64_t>(c.vocab_size),
                 KV = static_cast<uint64_t>(c.kv_dim());
  auto place = [&](Llama2cWeight w, uint64_t n_bytes) {
    ck.offset_[kind_index(w)] = pos;
    overflow |= __builtin_add_overflow(pos, n_bytes, &pos);
  };
  using W = Llama2cWeight;
  if (c.version == 0) {
    place(W::kTokenEmbedding, floats({V, D}));
    place(W::kRmsAtt, floats({L, D}));
    place(W::kWq, floats({L, D, D}));
    place(W::kWk, floats({L, KV, D}));
    place(W::kWv, floats({L, KV, D}));
    place(W::kWo, floats({L, D, D}));
    place(W::kRmsFfn, floats({L, D}));
    place(W::kW1, floats({L, H, D}));
    place(W::kW2, floats({L, D, H}));
    place(W::kW3, floats({L, H, D}));
    place(W::kRmsFinal, floats({D}));
    // freq_cis_real and freq_cis_imag: seq_len * head_size / 2 each; lathe computes rope itself.
    overflow |= __builtin_add_overflow(
        pos, floats({static_cast<uint64_t>(c.seq_len), static_cast<uint64_t>(c.head_size())}),
        &pos);
  } else {
    place(W::kRmsAtt, floats({L, D}));
    place(W::kRmsFfn, floats({L, D}));
    place(W::kRmsFinal, floats({D}));
    place(W::kTokenEmbedding, floats({V, D}));
    place(W::kWq, floats({L, D, D}));
    place(W::kWk, floats({L, KV, D}));
    place(W::kWv, floats({L, KV, D}));
    place(W::kWo, floats({L, D, D}));
    place(W::kW1, floats({L, H, D}));
    place(W::kW2, floats({L, D, H}));
    place(W::kW3, floats({L, H, D}));
  }
  if (c.shared_classifier) {
    ck.offset_[kind_index(W::kClassifier)] = ck.offset_[kind_index(W::kTokenEmbedding)];
  } else {
    place(W::kClassifier, floats({V, D}));
  }
  if (overflow)
    return fail(format_error("the header's sizes overflow (", c.dim, " dim, ", c.n_layers,
                             " layers, ", c.vocab_size, " vocab)"));
  if (size < pos) {
    return fail(format_error("truncated: ", size, " bytes, but the header (dim ", c.dim,
                             ", hidden_dim ", c.hidden_dim, ", ", c.n_layers, " layers, vocab ",
                             c.vocab_size, c.shared_classifier ? "" : ", own classifier",
                             ") needs ", pos));
  }
  if (size > pos) {
    // llama.cpp's converter refuses this too: the header does not describe the file.
    return fail(format_error(size - pos, " bytes follow the weights the header describes (", pos,
                             " bytes); is this a llama2.c checkpoint?"));
  }
  ck.file_ = std::make_shared<MappedFile>(std::move(bytes));
  return ck;
}

std::span<const uint8_t> Llama2cCheckpoint::bytes(Llama2cWeight w, int64_t layer) const {
  const uint64_t one = static_cast<uint64_t>(rows(w) * cols(w)) * sizeof(float);
  const uint64_t index = per_layer(w) ? static_cast<uint64_t>(layer) : 0;
  return {file_->data() + offset_[kind_index(w)] + index * one, static_cast<size_t>(one)};
}

Status Llama2cCheckpoint::read_rows(Llama2cWeight w, int64_t layer, int64_t row_begin,
                                    int64_t n_rows, float* out) const {
  if (per_layer(w) && (layer < 0 || layer >= config_.n_layers)) {
    return out_of_range("layer ", layer, " of ", config_.n_layers);
  }
  if (row_begin < 0 || n_rows < 0 || row_begin > rows(w) || n_rows > rows(w) - row_begin) {
    return out_of_range("rows [", row_begin, ", ", row_begin + n_rows, ") of ", rows(w));
  }
  const auto all = bytes(w, layer);
  const size_t row_bytes = static_cast<size_t>(cols(w)) * sizeof(float);
  // Copied rather than read through a float pointer: the file is bytes, and copying is as fast.
  std::memcpy(out, all.data() + static_cast<size_t>(row_begin) * row_bytes,
              static_cast<size_t>(n_rows) * row_bytes);
  return Status();
}

}  // namespace lathe::convert
