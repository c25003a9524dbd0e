// What the llama2.c and Hugging Face conversions share: input detection, vocabulary loading, the
// tensor type rules, and the streaming writer.
#include "convert/convert.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "convert/convert_internal.h"
#include "core/thread_pool.h"
#include "quant/quant.h"
#include "tokenizer/import.h"

namespace lathe::convert {

namespace fs = std::filesystem;

int64_t PlannedTensor::n_rows() const {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

namespace internal {

namespace {

Expected<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot open ", path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

const Logger& logger_of(const ConvertOptions& options) {
  return options.logger != nullptr ? *options.logger : Logger::default_logger();
}

std::string default_name(const std::string& path, bool strip_extension) {
  fs::path p(path);
  if (!p.has_filename()) p = p.parent_path();  // "dir/" names the folder
  if (p.filename() == "." || p.filename() == "..") {
    std::error_code ec;
    const fs::path abs = fs::weakly_canonical(p, ec);
    if (!ec) p = abs;
  }
  return strip_extension ? p.stem().string() : p.filename().string();
}

Expected<tokenizer::VocabSpec> load_vocab(const std::string& tokenizer_path,
                                          const std::string& hf_dir, int64_t n_vocab,
                                          const Logger& logger) {
  tokenizer::VocabSpec spec;
  const fs::path path(tokenizer_path);
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    return invalid_argument("tokenizer ", tokenizer_path,
                            " is a folder; name its tokenizer.json or tokenizer.bin");
  }
  if (path.extension() == ".json") {
    // A Hugging Face tokenizer. Its companions (tokenizer_config.json for BOS/EOS handling,
    // config.json for the vocabulary size) come from the model folder, else from beside it.
    tokenizer::HfTokenizerFiles files;
    LATHE_ASSIGN_OR_RETURN(files.tokenizer_json, read_text(tokenizer_path));
    const fs::path dirs[] = {fs::path(hf_dir), path.parent_path()};
    for (const char* name : {"tokenizer_config.json", "config.json"}) {
      for (const fs::path& dir : dirs) {
        if (dir.empty() || !fs::exists(dir / name, ec)) continue;
        LATHE_ASSIGN_OR_RETURN(std::string text, read_text((dir / name).string()));
        (std::string_view(name) == "config.json" ? files.config_json
                                                 : files.tokenizer_config_json) = std::move(text);
        break;
      }
    }
    auto imported = tokenizer::vocab_from_hf(files, {}, logger);
    if (!imported) return imported.error().with_context(tokenizer_path);
    spec = std::move(*imported);
  } else {
    if (n_vocab > INT32_MAX) return invalid_argument("vocabulary of ", n_vocab, " tokens");
    LATHE_ASSIGN_OR_RETURN(
        spec, tokenizer::vocab_from_llama2c_file(tokenizer_path, static_cast<int32_t>(n_vocab)));
  }
  if (static_cast<int64_t>(spec.tokens.size()) != n_vocab) {
    return format_error("tokenizer ", tokenizer_path, " has ", spec.tokens.size(),
                        " tokens but the model's embedding has ", n_vocab, " rows");
  }
  return spec;
}

Status write_general(gguf::Writer& w, std::string_view arch, const std::string& name,
                     TensorType type) {
  LATHE_ASSIGN_OR_RETURN(uint32_t file_type, file_type_for(type));
  w.set_string("general.architecture", arch);
  w.set_string("general.type", "model");
  w.set_string("general.name", name);
  w.set_u32("general.file_type", file_type);
  // The block layouts' version, which llama.cpp writes for every file with quantized tensors.
  if (type != TensorType::kF32 && type != TensorType::kF16 && type != TensorType::kBF16) {
    w.set_u32("general.quantization_version", 2);
  }
  return Status();
}

bool is_norm(std::string_view name) {
  return name.size() >= 12 && name.substr(name.size() - 12) == "_norm.weight";
}

}  // namespace internal

Expected<InputKind> detect_input(const std::string& input) {
  std::error_code ec;
  const fs::path p(input);
  if (!fs::exists(p, ec)) return io_error(input, ": no such file or folder");
  if (fs::is_directory(p, ec)) return InputKind::kHfDirectory;
  if (p.filename() == "config.json" || p.extension() == ".safetensors") {
    return InputKind::kHfDirectory;
  }
  std::ifstream in(p, std::ios::binary);
  char magic[4] = {};
  if (!in.read(magic, 4)) return InputKind::kLlama2c;  // too short: the reader says why
  if (std::memcmp(magic, "GGUF", 4) == 0) {
    return invalid_argument(input, " is already a GGUF file (lathe quantize re-types one)");
  }
  return InputKind::kLlama2c;
}

Expected<ConversionPlan> plan_conversion(const std::string& input, const ConvertOptions& options) {
  LATHE_ASSIGN_OR_RETURN(InputKind kind, detect_input(input));
  if (kind == InputKind::kLlama2c) return plan_llama2c(input, options);
  std::error_code ec;
  const std::string dir =
      fs::is_directory(input, ec) ? input : fs::path(input).parent_path().string();
  return plan_hf(dir.empty() ? "." : dir, options);
}

bool is_writable_type(TensorType type) {
  const quant::TypeTraits* traits = quant::type_traits(type);
  if (traits == nullptr || traits->quantize_row == nullptr) return false;
  // Activation formats have quantizers but no dot product: no model can compute with them.
  return traits->vec_dot != nullptr;
}

Expected<uint32_t> file_type_for(TensorType type) {
  // llama_ftype values ("mostly X"); a pure k-quant file is recorded as its _M mix.
  switch (type) {
    case TensorType::kF32:
      return 0u;
    case TensorType::kF16:
      return 1u;
    case TensorType::kQ4_0:
      return 2u;
    case TensorType::kQ4_1:
      return 3u;
    case TensorType::kQ8_0:
      return 7u;
    case TensorType::kQ5_0:
      return 8u;
    case TensorType::kQ5_1:
      return 9u;
    case TensorType::kQ2_K:
      return 10u;
    case TensorType::kQ3_K:
      return 12u;
    case TensorType::kQ4_K:
      return 15u;
    case TensorType::kQ5_K:
      return 17u;
    case TensorType::kQ6_K:
      return 18u;
    case TensorType::kIQ4_NL:
      return 25u;
    case TensorType::kIQ4_XS:
      return 30u;
    case TensorType::kBF16:
      return 32u;
    default:
      return unsupported("no llama.cpp file type corresponds to ", tensor_type_name(type));
  }
}

TensorType default_tensor_type(const PlannedTensor& t, TensorType requested, std::string* note) {
  if (!t.quantizable) return TensorType::kF32;
  const uint32_t block = tensor_type_info(requested).block_elems;
  if (t.n_cols() % block != 0) {
    if (note != nullptr) {
      *note = cat(t.name, ": rows of ", t.n_cols(), " are not whole blocks of ",
                  tensor_type_name(requested), " (", block, "); written as f16");
    }
    return TensorType::kF16;
  }
  return requested;
}

namespace {

// Values converted per thread per step: 2 MiB of f32 in flight per thread.
constexpr int64_t kValuesPerThread = int64_t{1} << 19;

bool is_float_type(TensorType type) {
  return type == TensorType::kF32 || type == TensorType::kF16 || type == TensorType::kBF16;
}

}  // namespace

Expected<ConvertResult> write_gguf(const ConversionPlan& plan, const std::string& path,
                                   const ConvertOptions& options) {
  const Logger& log = internal::logger_of(options);
  ConvertResult result;
  gguf::Writer writer = plan.metadata;
  std::vector<TensorType> types;
  for (const PlannedTensor& t : plan.tensors) {
    std::string note;
    const TensorType type =
        options.choose_type ? options.choose_type(t) : default_tensor_type(t, options.type, &note);
    if (!note.empty()) {
      log.warn(note);
      result.notes.push_back(note);
    }
    if (!is_writable_type(type)) {
      return unsupported(t.name, ": lathe cannot write ", tensor_type_name(type), " tensors");
    }
    if (t.n_cols() % tensor_type_info(type).block_elems != 0) {
      return invalid_argument(t.name, ": rows of ", t.n_cols(), " are not whole blocks of ",
                              tensor_type_name(type));
    }
    LATHE_RETURN_IF_ERROR(writer.add_tensor(t.name, type, t.shape).with_context(t.name));
    types.push_back(type);
  }

  LATHE_ASSIGN_OR_RETURN(gguf::TensorDataSink sink, writer.begin(path));
  const int n_threads = std::max(1, options.n_threads);
  ThreadPool pool(n_threads);
  std::vector<float> values;
  std::vector<uint8_t> bytes;
  std::vector<Status> thread_status(static_cast<size_t>(n_threads));
  for (size_t i = 0; i < plan.tensors.size(); ++i) {
    const PlannedTensor& t = plan.tensors[i];
    const TensorType type = types[i];
    if (options.on_tensor) options.on_tensor(i, plan.tensors.size(), t, type);
    const int64_t cols = t.n_cols(), rows = t.n_rows();
    LATHE_ASSIGN_OR_RETURN(const uint64_t row_bytes,
                           tensor_row_bytes(type, static_cast<uint64_t>(cols)));
    const int64_t step =
        std::max<int64_t>(1, kValuesPerThread * n_threads / std::max<int64_t>(cols, 1));
    const int64_t chunk_rows = std::min(step, rows);
    values.resize(static_cast<size_t>(chunk_rows * cols));
    bytes.resize(static_cast<size_t>(chunk_rows) * row_bytes);
    for (int64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
      const int64_t n = std::min(chunk_rows, rows - r0);
      // Each thread reads and converts its own rows: for f32/f16 output the reading dominates.
      pool.run([&](int index, int count) {
        const auto [b, e] = ThreadPool::chunk(n, index, count);
        Status& st = thread_status[static_cast<size_t>(index)];
        st = Status();
        if (b == e) return;
        float* v = values.data() + b * cols;
        st = t.read(r0 + b, e - b, v);
        if (!st.ok()) return;
        if (!is_float_type(type)) {
          // llama.cpp refuses to quantize non-finite values (its quantizers' output would be
          // meaningless), so lathe does too, naming where.
          for (int64_t k = 0; k < (e - b) * cols; ++k) {
            if (!std::isfinite(v[k])) {
              st = format_error(t.name, ": row ", r0 + b + k / cols, " holds a non-finite value (",
                                v[k], ")");
              return;
            }
          }
        }
        st = quant::quantize_rows(type, v, bytes.data() + static_cast<uint64_t>(b) * row_bytes,
                                  e - b, cols);
      });
      for (const Status& st : thread_status) {
        if (!st.ok()) return st.with_context(cat("tensor ", t.name, " (", t.source, ")"));
      }
      LATHE_RETURN_IF_ERROR(sink.write({bytes.data(), static_cast<size_t>(n) * row_bytes}));
    }
    result.n_bytes += static_cast<uint64_t>(rows) * row_bytes;
  }
  LATHE_RETURN_IF_ERROR(sink.finish());
  result.n_tensors = plan.tensors.size();
  return result;
}

Expected<ConvertResult> convert(const std::string& input, const std::string& output,
                                const ConvertOptions& options) {
  LATHE_ASSIGN_OR_RETURN(ConversionPlan plan, plan_conversion(input, options));
  return write_gguf(plan, output, options);
}

}  // namespace lathe::convert
