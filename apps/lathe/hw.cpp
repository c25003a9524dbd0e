// `lathe hw`: the machine's roofs. Everything `lathe bench` reports is a percentage of these.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "hw/probes.h"
#include "hw/profile.h"
#include "hw_command.h"

namespace lathe::cli {

namespace {

void print_table(const hw::HardwareProfile& p, const std::vector<int>& only_threads) {
  std::printf("cpu:      %s (%d cores, %d logical)\n", p.cpu.brand.c_str(), p.cpu.physical_cores,
              p.cpu.logical_cores);
  std::printf("features: %s\n", p.cpu.features.c_str());
  std::printf("kernels:  read %s", p.read_isa.c_str());
  for (hw::PeakKind kind : hw::kAllPeakKinds) {
    const std::string& isa = p.peak_isa[static_cast<int>(kind)];
    std::printf(", %s %s", std::string(hw::peak_kind_name(kind)).c_str(),
                isa.empty() ? "(no native instruction)" : isa.c_str());
  }
  std::printf("\nmeasured: %s, %llu MiB read buffer, best of %d runs\n\n", p.measured_at.c_str(),
              static_cast<unsigned long long>(p.buffer_bytes >> 20), p.repetitions);

  std::printf("%7s  %9s  %9s  %10s  %11s\n", "threads", "read GB/s", "int8 TOPS", "f32 TFLOPS",
              "bf16 TFLOPS");
  auto cell = [](double ops_per_s) {
    char text[32];
    if (ops_per_s > 0) {
      std::snprintf(text, sizeof text, "%.3f", ops_per_s / 1e12);
    } else {
      std::snprintf(text, sizeof text, "-");
    }
    return std::string(text);
  };
  int max_shown = 0;
  for (const hw::ThreadResult& r : p.results) {
    if (!only_threads.empty() &&
        std::find(only_threads.begin(), only_threads.end(), r.threads) == only_threads.end()) {
      continue;
    }
    max_shown = std::max(max_shown, r.threads);
    std::printf("%7d  %9.1f  %9s  %10s  %11s\n", r.threads, r.read_bytes_per_s / 1e9,
                cell(r.peak(hw::PeakKind::kInt8)).c_str(), cell(r.peak(hw::PeakKind::kF32)).c_str(),
                cell(r.peak(hw::PeakKind::kBf16)).c_str());
  }
  // The one consequence everyone asks about: generation reads every weight once per token.
  if (auto bw = p.best_bandwidth(max_shown)) {
    std::printf(
        "\nroof: at %.1f GB/s, generation that reads W GB of weights per token runs at "
        "most %.1f/W tokens/s\n",
        *bw / 1e9, *bw / 1e9);
  }
}

}  // namespace

int run_hw(int argc, char** argv) {
  std::vector<int> threads;
  int buffer_mb = 0;
  int repetitions = 0;
  bool refresh = false;
  bool no_cache = false;
  std::string output = "table";
  ArgParser args("hw",
                 "Measures this machine's memory read bandwidth and the peak rate of the kernels' "
                 "instruction mixes (int8 dot, f32 FMA, bf16 dot) per thread count. The result is "
                 "cached in $XDG_CACHE_HOME/lathe/hw.json (default ~/.cache/lathe/hw.json) and "
                 "reused until the CPU changes.");
  args.threads_list(
      {"-t", "--threads"},
      "thread counts to measure, e.g. 1,2,4 (default: 1..cores, powers of two above 8)", &threads);
  args.option({"--buffer-mb"}, "N",
              "read buffer in MiB, well beyond the last-level cache "
              "(default 1024)",
              &buffer_mb);
  args.option({"-r", "--repetitions"}, "N", "timed runs per probe; the best counts (default 5)",
              &repetitions);
  args.flag({"--refresh"}, "measure even when the cached profile matches this CPU", &refresh);
  args.flag({"--no-cache"}, "neither read nor write the cache", &no_cache);
  args.option({"-o", "--output"}, "FORMAT", "table or json (default table)", &output);
  Status status = args.parse(argc, argv);
  if (!status.ok()) return fail("hw", status.message());
  if (args.help_requested()) {
    std::fputs(args.help().c_str(), stdout);
    return 0;
  }
  if (output != "table" && output != "json") {
    return fail("hw", "-o expects table or json, got '" + output + "'");
  }
  if (buffer_mb < 0) return fail("hw", "--buffer-mb must be positive");
  if (repetitions < 0) return fail("hw", "-r must be positive");

  hw::LoadOptions options;
  options.measure.threads = threads;
  options.measure.buffer_bytes = static_cast<uint64_t>(buffer_mb) << 20;
  options.measure.repetitions = repetitions;
  options.measure.progress = [](std::string_view line) {
    std::fprintf(stderr, "lathe hw: %.*s\n", static_cast<int>(line.size()), line.data());
  };
  options.refresh = refresh;
  options.use_cache = !no_cache;

  auto loaded = hw::load_or_measure(options);
  if (!loaded) return fail("hw", loaded.error().message());
  if (!loaded->note.empty()) std::fprintf(stderr, "lathe hw: %s\n", loaded->note.c_str());

  if (output == "json") {
    nlohmann::json out = hw::profile_to_json(loaded->profile);
    out["cache"] = {{"path", loaded->cache_path.string()},
                    {"from_cache", loaded->from_cache},
                    {"written", loaded->cache_written}};
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  print_table(loaded->profile, threads);
  if (loaded->from_cache) {
    std::printf("\nfrom the cache %s (--refresh measures again)\n",
                loaded->cache_path.string().c_str());
  } else if (loaded->cache_written) {
    std::printf("\ncached in %s\n", loaded->cache_path.string().c_str());
  }
  return 0;
}

}  // namespace lathe::cli
