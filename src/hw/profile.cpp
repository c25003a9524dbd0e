#include "hw/profile.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <system_error>

#include "hw/probes.h"

namespace lathe::hw {

namespace {

constexpr double kGiga = 1e9;

std::string utc_now_iso8601() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

// JSON key of each peak kind's rate, in G-ops/s.
std::string peak_key(PeakKind kind) {
  return std::string(peak_kind_name(kind)) + "_gops";
}

template <typename Pick>
Expected<double> best_at_most(const std::vector<ThreadResult>& results, int threads,
                              std::string_view what, Pick pick) {
  double best = 0;
  bool any = false;
  for (const ThreadResult& r : results) {
    if (threads > 0 && r.threads > threads) continue;
    any = true;
    best = std::max(best, pick(r));
  }
  if (!any) {
    return out_of_range("no ", what, " measured with ", threads, " thread", threads == 1 ? "" : "s",
                        " or fewer; run `lathe hw -t ", threads, "`");
  }
  if (!(best > 0)) return unsupported(what, " was not measured on this CPU");
  return best;
}

std::string describe_threads(const std::vector<int>& threads) {
  std::string out;
  for (int t : threads) out += (out.empty() ? "" : ",") + std::to_string(t);
  return out;
}

}  // namespace

CpuIdentity CpuIdentity::current() {
  const CpuFeatures f = CpuFeatures::detect();
  CpuIdentity id;
  id.brand = f.brand.empty() ? "unknown CPU" : f.brand;
  id.features = f.summary();
  id.logical_cores = f.logical_cores;
  id.physical_cores = default_thread_count();
  return id;
}

const ThreadResult* HardwareProfile::find(int threads) const {
  for (const ThreadResult& r : results) {
    if (r.threads == threads) return &r;
  }
  return nullptr;
}

Expected<double> HardwareProfile::best_bandwidth(int threads) const {
  return best_at_most(results, threads, "read bandwidth",
                      [](const ThreadResult& r) { return r.read_bytes_per_s; });
}

Expected<double> HardwareProfile::peak(PeakKind kind, int threads) const {
  if (peak_isa[static_cast<int>(kind)].empty()) {
    return unsupported("this CPU has no native ", peak_kind_name(kind),
                       " dot product, so no peak was measured");
  }
  return best_at_most(results, threads, std::string(peak_kind_name(kind)) + " peak",
                      [kind](const ThreadResult& r) { return r.peak(kind); });
}

nlohmann::json profile_to_json(const HardwareProfile& p) {
  nlohmann::json kernels = {{"read", p.read_isa}};
  for (PeakKind kind : kAllPeakKinds) {
    const std::string& isa = p.peak_isa[static_cast<int>(kind)];
    kernels[std::string(peak_kind_name(kind))] =
        isa.empty() ? nlohmann::json() : nlohmann::json(isa);
  }
  nlohmann::json results = nlohmann::json::array();
  for (const ThreadResult& r : p.results) {
    nlohmann::json row = {{"threads", r.threads}, {"read_gb_per_s", r.read_bytes_per_s / kGiga}};
    for (PeakKind kind : kAllPeakKinds) {
      const double v = r.peak(kind);
      row[peak_key(kind)] = v > 0 ? nlohmann::json(v / kGiga) : nlohmann::json();
    }
    results.push_back(std::move(row));
  }
  return {
      {"schema", HardwareProfile::kSchemaVersion},
      {"cpu",
       {{"brand", p.cpu.brand},
        {"features", p.cpu.features},
        {"logical_cores", p.cpu.logical_cores},
        {"physical_cores", p.cpu.physical_cores}}},
      {"measured_at", p.measured_at},
      {"buffer_bytes", p.buffer_bytes},
      {"repetitions", p.repetitions},
      {"kernels", std::move(kernels)},
      {"results", std::move(results)},
  };
}

Expected<HardwareProfile> profile_from_json(const nlohmann::json& json) {
  // nlohmann throws on type mismatches; a hand-edited or truncated cache must become a Status.
  try {
    if (!json.is_object()) return format_error("hardware profile is not a JSON object");
    const int schema = json.at("schema").get<int>();
    if (schema != HardwareProfile::kSchemaVersion) {
      return format_error("hardware profile schema ", schema, " (expected ",
                          HardwareProfile::kSchemaVersion, ")");
    }
    HardwareProfile p;
    const auto& cpu = json.at("cpu");
    p.cpu.brand = cpu.at("brand").get<std::string>();
    p.cpu.features = cpu.at("features").get<std::string>();
    p.cpu.logical_cores = cpu.at("logical_cores").get<int>();
    p.cpu.physical_cores = cpu.at("physical_cores").get<int>();
    p.measured_at = json.at("measured_at").get<std::string>();
    p.buffer_bytes = json.at("buffer_bytes").get<uint64_t>();
    p.repetitions = json.at("repetitions").get<int>();
    const auto& kernels = json.at("kernels");
    p.read_isa = kernels.at("read").get<std::string>();
    for (PeakKind kind : kAllPeakKinds) {
      const auto& isa = kernels.at(std::string(peak_kind_name(kind)));
      if (!isa.is_null()) p.peak_isa[static_cast<int>(kind)] = isa.get<std::string>();
    }
    int previous = 0;
    for (const auto& row : json.at("results")) {
      ThreadResult r;
      r.threads = row.at("threads").get<int>();
      if (r.threads <= previous) {
        return format_error("hardware profile results are not in ascending thread order");
      }
      previous = r.threads;
      r.read_bytes_per_s = row.at("read_gb_per_s").get<double>() * kGiga;
      if (!std::isfinite(r.read_bytes_per_s) || r.read_bytes_per_s <= 0) {
        return format_error("hardware profile has a non-positive bandwidth at ", r.threads,
                            " threads");
      }
      for (PeakKind kind : kAllPeakKinds) {
        const auto& v = row.at(peak_key(kind));
        const double rate = v.is_null() ? 0.0 : v.get<double>() * kGiga;
        if (!std::isfinite(rate) || rate < 0) {
          return format_error("hardware profile has an invalid ", peak_kind_name(kind), " peak");
        }
        r.peak_ops_per_s[static_cast<int>(kind)] = rate;
      }
      p.results.push_back(r);
    }
    if (p.results.empty()) return format_error("hardware profile has no results");
    return p;
  } catch (const nlohmann::json::exception& e) {
    return format_error("malformed hardware profile: ", e.what());
  }
}

Status save_profile(const std::filesystem::path& path, const HardwareProfile& profile) {
  std::error_code ec;
  if (path.has_parent_path()) {
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) return io_error("cannot create ", path.parent_path().string(), ": ", ec.message());
  }
  // Write beside the target and rename, so a reader never sees half a file and two concurrent
  // `lathe hw` runs leave one complete profile.
  std::filesystem::path tmp = path;
  tmp += ".tmp." + std::to_string(static_cast<long>(::getpid()));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return io_error("cannot write ", tmp.string(), ": ", std::strerror(errno));
    out << profile_to_json(profile).dump(2) << '\n';
    out.flush();
    if (!out) {
      std::filesystem::remove(tmp, ec);
      return io_error("cannot write ", tmp.string());
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    return io_error("cannot rename ", tmp.string(), " to ", path.string(), ": ", ec.message());
  }
  return Status();
}

Expected<HardwareProfile> load_profile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot open ", path.string(), ": ", std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json json = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return format_error(path.string(), ": not valid JSON");
  auto profile = profile_from_json(json);
  if (!profile) return profile.error().with_context(path.string());
  return profile;
}

Expected<std::filesystem::path> cache_path_from(const char* xdg_cache_home, const char* home) {
  if (xdg_cache_home != nullptr && xdg_cache_home[0] == '/') {
    return std::filesystem::path(xdg_cache_home) / "lathe" / "hw.json";
  }
  if (home != nullptr && home[0] != '\0') {
    return std::filesystem::path(home) / ".cache" / "lathe" / "hw.json";
  }
  return invalid_argument("neither XDG_CACHE_HOME nor HOME is set, so there is no cache location");
}

Expected<std::filesystem::path> default_cache_path() {
  return cache_path_from(std::getenv("XDG_CACHE_HOME"), std::getenv("HOME"));
}

Expected<HardwareProfile> measure_profile(const MeasureOptions& options) {
  const CpuFeatures features = CpuFeatures::detect();
  HardwareProfile p;
  p.cpu = CpuIdentity::current();
  p.buffer_bytes = options.buffer_bytes > 0 ? options.buffer_bytes : kDefaultBufferBytes;
  p.repetitions = options.repetitions > 0 ? options.repetitions : kDefaultRepetitions;
  const double seconds =
      options.compute_seconds > 0 ? options.compute_seconds : kDefaultComputeSeconds;

  std::vector<int> threads = options.threads;
  if (threads.empty()) threads = default_thread_counts(p.cpu.physical_cores);
  for (int t : threads) {
    if (t < 1) return invalid_argument("thread count must be at least 1, got ", t);
  }
  std::sort(threads.begin(), threads.end());
  threads.erase(std::unique(threads.begin(), threads.end()), threads.end());

  const ReadKernel read = best_read_kernel(features);
  p.read_isa = std::string(read.isa);
  std::array<std::optional<PeakKernel>, kPeakKindCount> peaks;
  for (PeakKind kind : kAllPeakKinds) {
    peaks[static_cast<int>(kind)] = best_peak_kernel(features, kind);
    if (peaks[static_cast<int>(kind)]) {
      p.peak_isa[static_cast<int>(kind)] = std::string(peaks[static_cast<int>(kind)]->isa);
    }
  }

  auto report = [&](const std::string& line) {
    if (options.progress) options.progress(line);
  };
  for (int t : threads) {
    ThreadResult r;
    r.threads = t;
    auto bw = measure_read_bandwidth(read, t, p.buffer_bytes, p.repetitions);
    if (!bw) return bw.error().with_context(cat("read probe with ", t, " threads"));
    r.read_bytes_per_s = bw->bytes_per_s;
    std::ostringstream line;
    line.precision(3);
    line << t << (t == 1 ? " thread: " : " threads: ") << "read " << r.read_bytes_per_s / kGiga
         << " GB/s (" << read.isa << ")";
    for (PeakKind kind : kAllPeakKinds) {
      const auto& kernel = peaks[static_cast<int>(kind)];
      if (!kernel) continue;
      auto rate = measure_peak(*kernel, t, p.repetitions, seconds);
      if (!rate) {
        return rate.error().with_context(cat(peak_kind_name(kind), " probe with ", t, " threads"));
      }
      r.peak_ops_per_s[static_cast<int>(kind)] = *rate;
      line << ", " << peak_kind_name(kind) << ' ' << *rate / 1e12 << " T (" << kernel->isa << ")";
    }
    report(line.str());
    p.results.push_back(r);
  }
  p.measured_at = utc_now_iso8601();
  return p;
}

std::optional<std::string> cache_mismatch(const HardwareProfile& cached, const CpuIdentity& cpu,
                                          const MeasureOptions& options) {
  if (cached.cpu.brand != cpu.brand) {
    return cat("the CPU changed (cached '", cached.cpu.brand, "', now '", cpu.brand, "')");
  }
  if (cached.cpu.features != cpu.features) {
    return cat("the CPU features changed (cached '", cached.cpu.features, "', now '", cpu.features,
               "')");
  }
  if (cached.cpu.logical_cores != cpu.logical_cores ||
      cached.cpu.physical_cores != cpu.physical_cores) {
    return cat("the core count changed (cached ", cached.cpu.physical_cores, "/",
               cached.cpu.logical_cores, ", now ", cpu.physical_cores, "/", cpu.logical_cores, ")");
  }
  std::vector<int> missing;
  for (int t : options.threads) {
    if (cached.find(t) == nullptr) missing.push_back(t);
  }
  if (!missing.empty()) {
    return cat("the cache has no result for ", describe_threads(missing), " threads");
  }
  if (options.buffer_bytes != 0 && options.buffer_bytes != cached.buffer_bytes) {
    return cat("the cache was measured with a ", cached.buffer_bytes >> 20, " MiB buffer");
  }
  if (options.repetitions != 0 && options.repetitions != cached.repetitions) {
    return cat("the cache was measured with ", cached.repetitions, " repetitions");
  }
  return std::nullopt;
}

Expected<LoadResult> load_or_measure(const LoadOptions& options) {
  LoadResult result;
  std::vector<std::string> notes;
  if (options.use_cache) {
    if (!options.cache_path.empty()) {
      result.cache_path = options.cache_path;
    } else if (auto path = default_cache_path()) {
      result.cache_path = *path;
    } else {
      notes.push_back(path.error().message());
    }
  }

  if (!result.cache_path.empty() && !options.refresh) {
    std::error_code ec;
    if (std::filesystem::exists(result.cache_path, ec)) {
      auto cached = load_profile(result.cache_path);
      if (cached) {
        auto why = cache_mismatch(*cached, CpuIdentity::current(), options.measure);
        if (!why) {
          result.profile = std::move(cached).value();
          result.from_cache = true;
          return result;
        }
        notes.push_back("re-measuring: " + *why);
      } else {
        notes.push_back("ignoring the cache: " + cached.error().message());
      }
    }
  }

  if (!options.allow_measure) {
    std::string why = notes.empty() ? "no cached hardware profile" : notes.back();
    return unsupported(why, "; run `lathe hw` to measure this machine");
  }
  LATHE_ASSIGN_OR_RETURN(result.profile, measure_profile(options.measure));
  if (!result.cache_path.empty()) {
    Status saved = save_profile(result.cache_path, result.profile);
    if (saved.ok()) {
      result.cache_written = true;
    } else {
      notes.push_back("not cached: " + saved.message());
    }
  }
  for (const std::string& n : notes) result.note += (result.note.empty() ? "" : "; ") + n;
  return result;
}

}  // namespace lathe::hw
