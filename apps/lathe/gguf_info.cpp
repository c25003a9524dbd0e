// `lathe gguf-info FILE`: what a GGUF file holds, as a table or as JSON.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "gguf/gguf.h"

namespace lathe::cli {

namespace {

nlohmann::json value_to_json(const gguf::Value& value, size_t max_items) {
  using gguf::ValueType;
  switch (value.type()) {
    case ValueType::kString:
      return std::string(value.as_string());
    case ValueType::kBool:
      return value.as_bool();
    case ValueType::kFloat32:
    case ValueType::kFloat64:
      return value.as_f64();
    case ValueType::kUint8:
    case ValueType::kUint16:
    case ValueType::kUint32:
    case ValueType::kUint64:
      return value.as_u64();
    case ValueType::kArray: {
      nlohmann::json out = nlohmann::json::array();
      const uint64_t n =
          max_items == 0 ? value.array_size() : std::min<uint64_t>(value.array_size(), max_items);
      for (uint64_t k = 0; k < n; ++k) {
        if (value.array_type() == ValueType::kString) {
          out.push_back(std::string(value.array_strings()[k]));
        } else if (value.array_type() == ValueType::kArray) {
          out.push_back(value_to_json(value.array_values()[k], max_items));
        } else if (gguf::is_float_type(value.array_type())) {
          out.push_back(value.numeric_at(k));
        } else if (value.array_type() == ValueType::kBool) {
          out.push_back(value.integer_at(k) != 0);
        } else if (value.array_type() == ValueType::kUint64) {
          out.push_back(value.unsigned_at(k));  // may exceed int64
        } else {
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

  auto file = gguf::File::open(path);
  if (!file) return fail("gguf-info", file.error().message());

  uint64_t total_bytes = 0;
  uint64_t total_elements = 0;
  std::map<std::string, std::pair<uint64_t, uint64_t>> per_type;  // count, bytes
  for (const auto& t : file->tensors()) {
    total_bytes += t.n_bytes;
    total_elements += t.n_elements;
    auto& entry = per_type[std::string(tensor_type_name(t.type))];
    entry.first += 1;
    entry.second += t.n_bytes;
  }

  if (json) {
    nlohmann::json out;
    out["path"] = path;
    out["version"] = file->version();
    out["alignment"] = file->alignment();
    out["data_offset"] = file->data_offset();
    out["file_bytes"] = file->file_size();
    out["metadata_count"] = file->metadata().size();
    out["tensor_count"] = file->tensors().size();
    nlohmann::json meta = nlohmann::json::object();
    for (const auto& kv : file->metadata()) {
      nlohmann::json entry;
      entry["type"] = kv.value.type_description();
      if (kv.value.type() == gguf::ValueType::kArray) entry["count"] = kv.value.array_size();
      entry["value"] = value_to_json(kv.value, static_cast<size_t>(std::max(0, max_items)));
      meta[kv.key] = entry;
    }
    out["metadata"] = meta;
    if (!no_tensors) {
      nlohmann::json tensors = nlohmann::json::array();
      for (const auto& t : file->tensors()) {
        tensors.push_back({{"name", t.name},
                           {"type", tensor_type_name(t.type)},
                           {"shape", t.shape},
                           {"elements", t.n_elements},
                           {"bytes", t.n_bytes},
                           {"offset", file->data_offset() + t.offset}});
      }
      out["tensors"] = tensors;
    }
    out["totals"] = {
        {"tensors", file->tensors().size()}, {"elements", total_elements}, {"bytes", total_bytes}};
    std::printf("%s\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }

  std::printf("%s: GGUF v%u, %zu metadata keys, %zu tensors, alignment %u, data at offset %" PRIu64
              "\n\n",
              path.c_str(), file->version(), file->metadata().size(), file->tensors().size(),
              file->alignment(), file->data_offset());
  size_t key_width = 3;
  // Keys and names come from the file: printable() keeps a hostile one from garbling the table.
  std::vector<std::string> keys;
  for (const auto& kv : file->metadata()) {
    keys.push_back(gguf::printable(kv.key));
    key_width = std::max(key_width, keys.back().size());
  }
  std::printf("%-*s  %-16s  %s\n", static_cast<int>(key_width), "key", "type", "value");
  for (size_t k = 0; k < keys.size(); ++k) {
    const auto& kv = file->metadata()[k];
    std::printf(
        "%-*s  %-16s  %s\n", static_cast<int>(key_width), keys[k].c_str(),
        kv.value.type_description().c_str(),
        kv.value.to_display_string(max_items == 0 ? SIZE_MAX : static_cast<size_t>(max_items))
            .c_str());
  }
  if (!no_tensors) {
    size_t name_width = 4;
    std::vector<std::string> names;
    for (const auto& t : file->tensors()) {
      names.push_back(gguf::printable(t.name));
      name_width = std::max(name_width, names.back().size());
    }
    std::printf("\n%-*s  %-8s  %-24s  %12s  %12s\n", static_cast<int>(name_width), "name", "type",
                "shape", "bytes", "offset");
    for (size_t k = 0; k < names.size(); ++k) {
      const auto& t = file->tensors()[k];
      std::printf("%-*s  %-8s  %-24s  %12" PRIu64 "  %12" PRIu64 "\n", static_cast<int>(name_width),
                  names[k].c_str(), std::string(tensor_type_name(t.type)).c_str(),
                  t.shape_string().c_str(), t.n_bytes, file->data_offset() + t.offset);
    }
  }
  std::printf("\ntotals: %zu tensors, %" PRIu64 " elements, %" PRIu64 " bytes (%s)\n",
              file->tensors().size(), total_elements, total_bytes,
              human_bytes(total_bytes).c_str());
  for (const auto& [type, entry] : per_type) {
    std::printf("  %-8s %5" PRIu64 " tensors  %14" PRIu64 " bytes\n", type.c_str(), entry.first,
                entry.second);
  }
  return 0;
}

}  // namespace lathe::cli
