#include "convert/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "quant/fp16.h"

namespace lathe::convert {

namespace {

using json = nlohmann::json;

struct DtypeInfo {
  std::string_view name;
  StDtype dtype;
  size_t size;
  bool is_float;
};

constexpr DtypeInfo kDtypes[] = {
    {"F64", StDtype::kF64, 8, true},         {"F32", StDtype::kF32, 4, true},
    {"F16", StDtype::kF16, 2, true},         {"BF16", StDtype::kBF16, 2, true},
    {"I64", StDtype::kI64, 8, false},        {"I32", StDtype::kI32, 4, false},
    {"I16", StDtype::kI16, 2, false},        {"I8", StDtype::kI8, 1, false},
    {"U8", StDtype::kU8, 1, false},          {"BOOL", StDtype::kBool, 1, false},
    {"F8_E4M3", StDtype::kF8E4M3, 1, false}, {"F8_E5M2", StDtype::kF8E5M2, 1, false},
};

const DtypeInfo& info(StDtype dtype) {
  for (const auto& d : kDtypes) {
    if (d.dtype == dtype) return d;
  }
  return kDtypes[1];
}

// A JSON number that is a non-negative integer (nlohmann stores those as unsigned or, when parsed
// from a literal like 12, sometimes as signed).
bool non_negative_integer(const json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(v.get<int64_t>());
    return true;
  }
  return false;
}

// Reads one tensor entry of the header; `data_size` is the byte count after the header.
Expected<StTensor> parse_entry(const std::string& name, const json& entry, uint64_t data_size,
                               uint64_t* begin_out) {
  if (!entry.is_object()) return format_error("entry is not an object");
  const auto dtype_it = entry.find("dtype");
  if (dtype_it == entry.end() || !dtype_it->is_string()) {
    return format_error("missing or non-string dtype");
  }
  const std::string dtype_name = dtype_it->get<std::string>();
  const DtypeInfo* dtype = nullptr;
  for (const auto& d : kDtypes) {
    if (d.name == dtype_name) dtype = &d;
  }
  if (dtype == nullptr) return format_error("unknown dtype '", dtype_name, "'");

  const auto shape_it = entry.find("shape");
  if (shape_it == entry.end() || !shape_it->is_array()) return format_error("missing shape");
  if (shape_it->size() > 8) return format_error("shape has ", shape_it->size(), " dimensions");
  StTensor t;
  t.name = name;
  t.dtype = dtype->dtype;
  uint64_t n = 1;
  for (const json& d : *shape_it) {
    uint64_t dim = 0;
    if (!non_negative_integer(d, &dim) || dim > (uint64_t{1} << 40)) {
      return format_error("shape ", shape_it->dump(), " has an invalid dimension");
    }
    if (dim != 0 && n > UINT64_MAX / dim)
      return format_error("shape ", shape_it->dump(), " overflows");
    n *= dim;
    t.shape.push_back(static_cast<int64_t>(dim));
  }
  if (n > (uint64_t{1} << 48)) return format_error("shape ", shape_it->dump(), " is too large");
  t.n_elements = static_cast<int64_t>(n);

  const auto off_it = entry.find("data_offsets");
  uint64_t begin = 0, end = 0;
  if (off_it == entry.end() || !off_it->is_array() || off_it->size() != 2 ||
      !non_negative_integer((*off_it)[0], &begin) || !non_negative_integer((*off_it)[1], &end)) {
    return format_error("data_offsets must be two non-negative integers");
  }
  if (begin > end) return format_error("data_offsets [", begin, ", ", end, "] are reversed");
  if (end > data_size) {
    return format_error("data_offsets [", begin, ", ", end, "] run past the end of the data (",
                        data_size, " bytes)");
  }
  const uint64_t want = n * dtype->size;
  if (end - begin != want) {
    return format_error("holds ", end - begin, " bytes but ", dtype->name, " ", t.shape_string(),
                        " needs ", want);
  }
  *begin_out = begin;
  return t;
}

Expected<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot open ", path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::string_view st_dtype_name(StDtype dtype) {
  return info(dtype).name;
}
size_t st_dtype_size(StDtype dtype) {
  return info(dtype).size;
}
bool st_dtype_is_float(StDtype dtype) {
  return info(dtype).is_float;
}

std::string StTensor::shape_string() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Expected<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  LATHE_ASSIGN_OR_RETURN(MappedFile file, MappedFile::open(path));
  return parse(std::move(file), path);
}

Expected<SafetensorsFile> SafetensorsFile::parse(MappedFile bytes, std::string name) {
  auto fail = [&](const Status& s) { return s.with_context(name); };
  const uint64_t size = bytes.size();
  if (size < 8) return fail(format_error("too short for a safetensors header (", size, " bytes)"));
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  if (header_len > kMaxSafetensorsHeader) {
    return fail(format_error("header length ", header_len, " exceeds the ", kMaxSafetensorsHeader,
                             "-byte limit"));
  }
  if (header_len > size - 8) {
    return fail(format_error("header length ", header_len, " runs past the end of the file (", size,
                             " bytes)"));
  }
  const char* text = reinterpret_cast<const char*>(bytes.data() + 8);
  const json header = json::parse(text, text + header_len, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded()) return fail(format_error("header is not valid JSON"));
  if (!header.is_object()) return fail(format_error("header is not a JSON object"));

  SafetensorsFile out;
  out.path_ = name;
  out.file_ = std::make_shared<MappedFile>(std::move(bytes));
  const uint8_t* data = out.file_->data() + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  struct Range {
    uint64_t begin, end;
    size_t index;
  };
  std::vector<Range> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it.value().is_object()) return fail(format_error("__metadata__ is not an object"));
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string()) {
          return fail(format_error("__metadata__ value of '", m.key(), "' is not a string"));
        }
        out.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    uint64_t begin = 0;
    auto t = parse_entry(it.key(), it.value(), data_size, &begin);
    if (!t) return fail(t.error().with_context(cat("tensor ", it.key())));
    const uint64_t n_bytes = static_cast<uint64_t>(t->n_elements) * st_dtype_size(t->dtype);
    t->data = {data + begin, static_cast<size_t>(n_bytes)};
    ranges.push_back({begin, begin + n_bytes, out.tensors_.size()});
    out.index_[t->name] = out.tensors_.size();
    out.tensors_.push_back(std::move(*t));
  }
  // Two tensors sharing bytes would let one write alias another; the format forbids it.
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.begin < b.begin; });
  uint64_t covered_to = 0;  // end of the furthest-reaching range so far
  size_t covered_by = 0;
  for (const Range& r : ranges) {
    if (r.end == r.begin) continue;  // empty tensors occupy no bytes
    if (r.begin < covered_to) {
      return fail(format_error("tensors ", out.tensors_[covered_by].name, " and ",
                               out.tensors_[r.index].name, " overlap"));
    }
    covered_to = r.end;
    covered_by = r.index;
  }
  return out;
}

const StTensor* SafetensorsFile::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Status read_rows_f32(const StTensor& t, int64_t row_begin, int64_t n_rows, float* out) {
  if (!st_dtype_is_float(t.dtype)) {
    return unsupported("tensor ", t.name, ": dtype ", st_dtype_name(t.dtype),
                       " cannot be converted (lathe converts F32, F16, BF16 and F64 weights)");
  }
  if (row_begin < 0 || n_rows < 0 || row_begin > t.n_rows() || n_rows > t.n_rows() - row_begin) {
    return out_of_range("tensor ", t.name, ": rows [", row_begin, ", ", row_begin + n_rows,
                        ") are outside its ", t.n_rows(), " rows");
  }
  const int64_t cols = t.n_cols();
  const size_t n = static_cast<size_t>(n_rows * cols);
  const size_t esize = st_dtype_size(t.dtype);
  const uint8_t* src = t.data.data() + static_cast<size_t>(row_begin * cols) * esize;
  // The data is only as aligned as the header length makes it, so elements are copied, never
  // read through a cast pointer.
  switch (t.dtype) {
    case StDtype::kF32:
      std::memcpy(out, src, n * sizeof(float));
      break;
    case StDtype::kF64:
      for (size_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, src + 8 * i, 8);
        out[i] = static_cast<float>(v);
      }
      break;
    case StDtype::kF16:
    case StDtype::kBF16: {
      const bool bf = t.dtype == StDtype::kBF16;
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = bf ? quant::bf16_to_f32(h) : quant::f16_to_f32(h);
      }
      break;
    }
    default:
      break;
  }
  return Status();
}

Expected<SafetensorsSet> SafetensorsSet::from_files(std::vector<SafetensorsFile> files) {
  SafetensorsSet set;
  for (auto& f : files) {
    auto shared = std::make_shared<const SafetensorsFile>(std::move(f));
    for (const StTensor& t : shared->tensors()) {
      if (!set.by_name_.emplace(t.name, &t).second) {
        return format_error("tensor ", t.name, " appears in more than one file (", shared->path(),
                            ")");
      }
    }
    for (const auto& [k, v] : shared->metadata()) set.metadata_[k] = v;
    set.files_.push_back(std::move(shared));
  }
  return set;
}

Expected<SafetensorsSet> SafetensorsSet::open_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<std::string> paths;
  const fs::path index_path = fs::path(dir) / "model.safetensors.index.json";
  std::error_code ec;
  if (fs::exists(index_path, ec)) {
    LATHE_ASSIGN_OR_RETURN(std::string text, read_text_file(index_path.string()));
    const json index = json::parse(text, nullptr, false);
    if (index.is_discarded() || !index.is_object() || !index.contains("weight_map") ||
        !index["weight_map"].is_object()) {
      return format_error(index_path.string(), ": no weight_map object");
    }
    for (const auto& [name, file] : index["weight_map"].items()) {
      if (!file.is_string()) return format_error(index_path.string(), ": ", name, " has no file");
      const std::string f = file.get<std::string>();
      // Shard names are plain file names; anything else could read outside the model folder.
      if (f.empty() || f.find('/') != std::string::npos || f.find('\\') != std::string::npos ||
          f == "." || f == "..") {
        return format_error(index_path.string(), ": shard name '", f, "' is not a file name");
      }
      const std::string p = (fs::path(dir) / f).string();
      if (std::find(paths.begin(), paths.end(), p) == paths.end()) paths.push_back(p);
    }
  } else {
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".safetensors") paths.push_back(entry.path().string());
    }
    if (ec) return io_error("cannot list ", dir, ": ", ec.message());
    std::sort(paths.begin(), paths.end());
  }
  if (paths.empty()) {
    const bool has_bin = fs::exists(fs::path(dir) / "pytorch_model.bin", ec);
    return unsupported(dir, ": no .safetensors files",
                       has_bin
                           ? " (pytorch_model.bin is a Python pickle, which lathe does not read; "
                             "save the model with safe_serialization=True)"
                           : "");
  }
  std::vector<SafetensorsFile> files;
  for (const auto& p : paths) {
    LATHE_ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::open(p));
    files.push_back(std::move(f));
  }
  return from_files(std::move(files));
}

const StTensor* SafetensorsSet::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::vector<std::string> SafetensorsSet::names() const {
  std::vector<std::string> out;
  for (const auto& [name, t] : by_name_) out.push_back(name);
  return out;
}

}  // namespace lathe::convert
