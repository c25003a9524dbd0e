// `lathe gguf-info FILE`: what a GGUF file holds, as a table or as JSON.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "gguf/gguf.h"

namespace lathe::cli {

namespace {

// ordered_json keeps the file's key order, which is how llama.cpp's tools list them too.
using Json = nlohmann::ordered_json;

// A float32 printed with the fewest digits that read back as the same float (1e-05, not
// 9.999999747378752e-06): JSON numbers are doubles, and the f32 value is what the file holds.
double shortest_f32(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", value);
  for (int digits = 1; digits <= 9; ++digits) {
    char shorter[32];
    std::snprintf(shorter, sizeof shorter, "%.*g", digits, value);
    if (static_cast<float>(std::strtod(shorter, nullptr)) == static_cast<float>(value)) {
      return std::strtod(shorter, nullptr);
    }
  }
  return std::strtod(text, nullptr);
}

Json value_to_json(const gguf::Value& value, size_t max_items) {
  using gguf::ValueType;
  switch (value.type()) {
    case ValueType::kString:
      return std::string(value.as_string());
    case ValueType::kBool:
      return value.as_bool();
    case ValueType::kFloat32:
      return shortest_f32(value.as_f64());
    case ValueType::kFloat64:
      return value.as_f64();
    case ValueType::kUint8:
    case ValueType::kUint16:
    case ValueType::kUint32:
    case ValueType::kUint64:
      return value.as_u64();
    case ValueType::kArray: {
      Json out = Json::array();
      const uint64_t n = std::min<uint64_t>(value.array_size(), max_items);
      for (uint64_t k = 0; k < n; ++k) {
        switch (value.array_type()) {
          case ValueType::kString:
            out.push_back(std::string(value.array_strings()[k]));
            break;
          case ValueType::kArray:
            out.push_back(value_to_json(value.array_values()[k], max_items));
            break;
          case ValueType::kFloat32:
            out.push_back(shortest_f32(value.numeric_at(k)));
            break;
          case ValueType::kFloat64:
            out.push_back(value.numeric_at(k));
            break;
          case ValueType::kBool:
            out.push_back(value.integer_at(k) != 0);
            break;
          case ValueType::kUint64:
            out.push_back(value.unsigned_at(k));
            break;  // may pass int64
          default:
            out.push_back(value.integer_at(k));
        }
      }
      return out;
    }
    default:
      return value.as_i64();
  }
}

std::string human_bytes(uint64_t bytes) {
  char buf[32];
  if (bytes >= (1ull << 30)) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / double(1ull << 30));
  } else if (bytes >= (1ull << 20)) {
    std::snprintf(buf, sizeof buf, "%.2f MiB", bytes / double(1ull << 20));
  } else if (bytes >= (1ull << 10)) {
    std::snprintf(buf, sizeof buf, "%.2f KiB", bytes / double(1ull << 10));
  } else {
    std::snprintf(buf, sizeof buf, "%" PRIu64 " B", bytes);
  }
  return buf;
}

struct Totals {
  uint64_t bytes = 0;
  uint64_t elements = 0;
  std::map<std::string, std::pair<uint64_t, uint64_t>> per_type;  // count, bytes
};

Totals totals_of(const gguf::File& file) {
  Totals totals;
  for (const auto& t : file.tensors()) {
    totals.bytes += t.n_bytes;
    totals.elements += t.n_elements;
    auto& entry = totals.per_type[std::string(tensor_type_name(t.type))];
    entry.first += 1;
    entry.second += t.n_bytes;
  }
  return totals;
}

void print_json(const std::string& path, const gguf::File& file, bool no_tensors,
                size_t max_items) {
  const Totals totals = totals_of(file);
  Json out;
  out["path"] = path;
  out["version"] = file.version();
  out["alignment"] = file.alignment();
  out["data_offset"] = file.data_offset();
  out["file_bytes"] = file.file_size();
  out["metadata_count"] = file.metadata().size();
  out["tensor_count"] = file.tensors().size();
  Json meta = Json::object();
  for (const auto& kv : file.metadata()) {
    Json entry;
    entry["type"] = kv.value.type_description();
    if (kv.value.type() == gguf::ValueType::kArray) entry["count"] = kv.value.array_size();
    entry["value"] = value_to_json(kv.value, max_items);
    meta[kv.key] = entry;
  }
  out["metadata"] = meta;
  if (!no_tensors) {
    Json tensors = Json::array();
    for (const auto& t : file.tensors()) {
      tensors.push_back({{"name", t.name},
                         {"type", tensor_type_name(t.type)},
                         {"shape", t.shape},
                         {"elements", t.n_elements},
                         {"bytes", t.n_bytes},
                         {"offset", file.data_offset() + t.offset}});
    }
    out["tensors"] = tensors;
  }
  Json per_type = Json::object();
  for (const auto& [type, entry] : totals.per_type) {
    per_type[type] = {{"tensors", entry.first}, {"bytes", entry.second}};
  }
  out["totals"] = {{"tensors", file.tensors().size()},
                   {"elements", totals.elements},
                   {"bytes", totals.bytes},
                   {"by_type", per_type}};
  // Strings from the file need not be UTF-8; replace bad bytes rather than fail.
  std::printf("%s\n", out.dump(2, ' ', false, Json::error_handler_t::replace).c_str());
}

void print_tables(const std::string& path, const gguf::File& file, bool no_tensors,
                  size_t max_items) {
  std::printf("%s: GGUF v%u, %zu metadata keys, %zu tensors, alignment %u, data at offset %" PRIu64
              ", %" PRIu64 " bytes\n\n",
              path.c_str(), file.version(), file.metadata().size(), file.tensors().size(),
              file.alignment(), file.data_offset(), file.file_size());

  // Keys and names come from the file: printable() keeps a hostile one from garbling the table.
  std::vector<std::string> keys;
  std::vector<std::string> types;
  size_t key_width = 3;
  size_t type_width = 4;
  for (const auto& kv : file.metadata()) {
    keys.push_back(gguf::printable(kv.key, 200));
    types.push_back(kv.value.type_description());
    key_width = std::max(key_width, keys.back().size());
    type_width = std::max(type_width, types.back().size());
  }
  std::printf("%-*s  %-*s  %s\n", static_cast<int>(key_width), "key", static_cast<int>(type_width),
              "type", "value");
  for (size_t k = 0; k < keys.size(); ++k) {
    std::printf("%-*s  %-*s  %s\n", static_cast<int>(key_width), keys[k].c_str(),
                static_cast<int>(type_width), types[k].c_str(),
                file.metadata()[k].value.to_display_string(max_items).c_str());
  }

  if (!no_tensors) {
    std::vector<std::string> names;
    size_t name_width = 4;
    for (const auto& t : file.tensors()) {
      names.push_back(gguf::printable(t.name, 200));
      name_width = std::max(name_width, names.back().size());
    }
    std::printf("\n%-*s  %-8s  %-24s  %12s  %12s\n", static_cast<int>(name_width), "name", "type",
                "shape", "bytes", "offset");
    for (size_t k = 0; k < names.size(); ++k) {
      const auto& t = file.tensors()[k];
      std::printf("%-*s  %-8s  %-24s  %12" PRIu64 "  %12" PRIu64 "\n", static_cast<int>(name_width),
                  names[k].c_str(), std::string(tensor_type_name(t.type)).c_str(),
                  t.shape_string().c_str(), t.n_bytes, file.data_offset() + t.offset);
    }
    if (names.empty()) std::printf("(no tensors)\n");
  }

  const Totals totals = totals_of(file);
  std::printf("\ntotals: %zu tensors, %" PRIu64 " elements, %" PRIu64 " bytes (%s)\n",
              file.tensors().size(), totals.elements, totals.bytes,
              human_bytes(totals.bytes).c_str());
  for (const auto& [type, entry] : totals.per_type) {
    std::printf("  %-8s %5" PRIu64 " tensors  %14" PRIu64 " bytes\n", type.c_str(), entry.first,
                entry.second);
  }
}

}  // namespace

int run_gguf_info(int argc, char** argv) {
  std::string path;
  bool json = false;
  bool no_tensors = false;
  int max_items = 8;
  ArgParser args("gguf-info",
                 "Prints a GGUF file's metadata (long arrays abbreviated) and its "
                 "tensor table with totals.");
  args.positional("FILE", "the GGUF file", &path);
  args.flag({"--json"}, "print JSON instead of tables", &json);
  args.flag({"--no-tensors"}, "omit the tensor table", &no_tensors);
  args.option({"--max-items"}, "N", "array items shown before abbreviating (0 = all; default 8)",
              &max_items);
  Status status = args.parse(argc, argv);
  if (!status.ok()) return fail("gguf-info", status.message());
  if (args.help_requested()) {
    std::fputs(args.help().c_str(), stdout);
    return 0;
  }
  if (max_items < 0) return fail("gguf-info", "--max-items must be 0 or more");
  const size_t items = max_items == 0 ? SIZE_MAX : static_cast<size_t>(max_items);

  auto file = gguf::File::open(path);
  if (!file) return fail("gguf-info", file.error().message());
  if (json) {
    print_json(path, *file, no_tensors, items);
  } else {
    print_tables(path, *file, no_tensors, items);
  }
  return 0;
}

}  // namespace lathe::cli
