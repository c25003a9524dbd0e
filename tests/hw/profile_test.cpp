// The hardware profile: lookups, JSON round trip, the cache file and when it is reused.
#include "hw/profile.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "support/fixtures.h"

namespace lathe::hw {
namespace {

HardwareProfile sample_profile() {
  HardwareProfile p;
  p.cpu = {"Test CPU 9000", "AVX AVX2 FMA", 4, 2};
  p.measured_at = "2025-01-02T03:04:05Z";
  p.buffer_bytes = 1 << 30;
  p.repetitions = 5;
  p.read_isa = "avx2";
  p.peak_isa = {"avx2", "avx2", ""};
  p.results.push_back({1, 29e9, {1.5e12, 0.25e12, 0}});
  p.results.push_back({2, 54e9, {3.0e12, 0.50e12, 0}});
  p.results.push_back({4, 53e9, {3.1e12, 0.52e12, 0}});
  return p;
}

// Options that make a real measurement take a fraction of a second.
MeasureOptions tiny_measurement() {
  MeasureOptions m;
  m.threads = {1, 2};
  m.buffer_bytes = 1 << 20;
  m.repetitions = 1;
  m.compute_seconds = 0.001;
  return m;
}

TEST(HardwareProfile, FindIsExact) {
  const HardwareProfile p = sample_profile();
  ASSERT_NE(p.find(2), nullptr);
  EXPECT_EQ(p.find(2)->read_bytes_per_s, 54e9);
  EXPECT_EQ(p.find(3), nullptr);
}

TEST(HardwareProfile, BestBandwidthIsTheBestWithAtMostThatManyThreads) {
  const HardwareProfile p = sample_profile();
  EXPECT_EQ(*p.best_bandwidth(1), 29e9);
  EXPECT_EQ(*p.best_bandwidth(2), 54e9);
  EXPECT_EQ(*p.best_bandwidth(3), 54e9);  // not measured: 2 threads' roof still applies
  EXPECT_EQ(*p.best_bandwidth(4), 54e9);  // 4 threads measured lower: noise, the roof is 54
  EXPECT_EQ(*p.best_bandwidth(64), 54e9);
  EXPECT_EQ(*p.best_bandwidth(0), 54e9);  // any
  HardwareProfile from_two = p;
  from_two.results.erase(from_two.results.begin());
  EXPECT_EQ(from_two.best_bandwidth(1).error().code(), ErrorCode::kOutOfRange);
}

TEST(HardwareProfile, PeakByKind) {
  const HardwareProfile p = sample_profile();
  EXPECT_EQ(*p.peak(PeakKind::kInt8, 1), 1.5e12);
  EXPECT_EQ(*p.peak(PeakKind::kInt8, 3), 3.0e12);
  EXPECT_EQ(*p.peak(PeakKind::kF32, 8), 0.52e12);
  EXPECT_EQ(p.peak(PeakKind::kBf16, 2).error().code(), ErrorCode::kUnsupported);
}

TEST(HardwareProfile, JsonRoundTrip) {
  const HardwareProfile p = sample_profile();
  const nlohmann::json json = profile_to_json(p);
  EXPECT_EQ(json["cpu"]["brand"], "Test CPU 9000");
  EXPECT_TRUE(json["results"][0]["bf16_gops"].is_null());
  EXPECT_DOUBLE_EQ(json["results"][1]["read_gb_per_s"].get<double>(), 54.0);
  auto back = profile_from_json(nlohmann::json::parse(json.dump()));
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(back->cpu, p.cpu);
  EXPECT_EQ(back->measured_at, p.measured_at);
  EXPECT_EQ(back->buffer_bytes, p.buffer_bytes);
  EXPECT_EQ(back->repetitions, p.repetitions);
  EXPECT_EQ(back->read_isa, p.read_isa);
  EXPECT_EQ(back->peak_isa, p.peak_isa);
  ASSERT_EQ(back->results.size(), p.results.size());
  for (size_t i = 0; i < p.results.size(); ++i) {
    EXPECT_EQ(back->results[i].threads, p.results[i].threads);
    EXPECT_DOUBLE_EQ(back->results[i].read_bytes_per_s, p.results[i].read_bytes_per_s);
    for (PeakKind kind : kAllPeakKinds) {
      EXPECT_DOUBLE_EQ(back->results[i].peak(kind), p.results[i].peak(kind));
    }
  }
}

TEST(HardwareProfile, MalformedJsonIsAFormatError) {
  nlohmann::json good = profile_to_json(sample_profile());
  const auto code_of = [](const nlohmann::json& j) {
    auto r = profile_from_json(j);
    return r.has_value() ? ErrorCode::kOk : r.error().code();
  };
  EXPECT_EQ(code_of(nlohmann::json::array()), ErrorCode::kFormat);
  nlohmann::json j = good;
  j["schema"] = 99;
  EXPECT_EQ(code_of(j), ErrorCode::kFormat);
  j = good;
  j["cpu"]["brand"] = 5;
  EXPECT_EQ(code_of(j), ErrorCode::kFormat);
  j = good;
  j.erase("results");
  EXPECT_EQ(code_of(j), ErrorCode::kFormat);
  j = good;
  j["results"] = nlohmann::json::array();
  EXPECT_EQ(code_of(j), ErrorCode::kFormat);
  j = good;
  j["results"][0]["read_gb_per_s"] = -1;
  EXPECT_EQ(code_of(j), ErrorCode::kFormat);
  j = good;
  std::swap(j["results"][0], j["results"][1]);
  EXPECT_EQ(code_of(j), ErrorCode::kFormat);
}

TEST(HardwareProfile, SaveAndLoad) {
  const std::string dir = testing::make_temp_dir("hw_save_load");
  const std::filesystem::path path = std::filesystem::path(dir) / "nested" / "hw.json";
  ASSERT_TRUE(save_profile(path, sample_profile()).ok());
  auto loaded = load_profile(path);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message();
  EXPECT_EQ(loaded->cpu.brand, "Test CPU 9000");
  EXPECT_EQ(loaded->results.size(), 3u);

  EXPECT_EQ(load_profile(std::filesystem::path(dir) / "absent.json").error().code(),
            ErrorCode::kIo);
  std::ofstream(std::filesystem::path(dir) / "bad.json") << "{ not json";
  EXPECT_EQ(load_profile(std::filesystem::path(dir) / "bad.json").error().code(),
            ErrorCode::kFormat);
}

TEST(HardwareProfile, CachePathFollowsXdg) {
  EXPECT_EQ(*cache_path_from("/xdg", "/home/u"), std::filesystem::path("/xdg/lathe/hw.json"));
  EXPECT_EQ(*cache_path_from(nullptr, "/home/u"),
            std::filesystem::path("/home/u/.cache/lathe/hw.json"));
  // The XDG spec: a relative XDG_CACHE_HOME is invalid and ignored.
  EXPECT_EQ(*cache_path_from("relative", "/home/u"),
            std::filesystem::path("/home/u/.cache/lathe/hw.json"));
  EXPECT_EQ(*cache_path_from("", "/home/u"), std::filesystem::path("/home/u/.cache/lathe/hw.json"));
  EXPECT_FALSE(cache_path_from(nullptr, nullptr).has_value());
  EXPECT_FALSE(cache_path_from(nullptr, "").has_value());
}

TEST(HardwareProfile, CacheMismatch) {
  const HardwareProfile cached = sample_profile();
  const CpuIdentity same = cached.cpu;
  EXPECT_FALSE(cache_mismatch(cached, same, {}).has_value());

  CpuIdentity other = same;
  other.brand = "Other CPU";
  ASSERT_TRUE(cache_mismatch(cached, other, {}).has_value());
  EXPECT_NE(cache_mismatch(cached, other, {})->find("CPU changed"), std::string::npos);
  other = same;
  other.features = "AVX";
  EXPECT_TRUE(cache_mismatch(cached, other, {}).has_value());
  other = same;
  other.logical_cores = 8;
  EXPECT_TRUE(cache_mismatch(cached, other, {}).has_value());

  MeasureOptions options;
  options.threads = {1, 2};
  EXPECT_FALSE(cache_mismatch(cached, same, options).has_value());
  options.threads = {1, 3};
  EXPECT_TRUE(cache_mismatch(cached, same, options).has_value());
  options = {};
  options.buffer_bytes = cached.buffer_bytes;
  EXPECT_FALSE(cache_mismatch(cached, same, options).has_value());
  options.buffer_bytes = 64 << 20;
  EXPECT_TRUE(cache_mismatch(cached, same, options).has_value());
  options = {};
  options.repetitions = 3;
  EXPECT_TRUE(cache_mismatch(cached, same, options).has_value());
}

TEST(HardwareProfile, MeasureProfileOnThisMachine) {
  MeasureOptions m = tiny_measurement();
  m.threads = {2, 1, 2};  // unsorted with a duplicate
  int progress_lines = 0;
  m.progress = [&](std::string_view) { ++progress_lines; };
  auto p = measure_profile(m);
  ASSERT_TRUE(p.has_value()) << p.error().message();
  EXPECT_EQ(p->cpu, CpuIdentity::current());
  ASSERT_EQ(p->results.size(), 2u);
  EXPECT_EQ(p->results[0].threads, 1);
  EXPECT_EQ(p->results[1].threads, 2);
  EXPECT_EQ(progress_lines, 2);
  EXPECT_FALSE(p->read_isa.empty());
  for (const ThreadResult& r : p->results) {
    EXPECT_GT(r.read_bytes_per_s, 0);
    EXPECT_GT(r.peak(PeakKind::kInt8), 0);
    EXPECT_GT(r.peak(PeakKind::kF32), 0);
    EXPECT_EQ(r.peak(PeakKind::kBf16) > 0, !p->peak_isa[2].empty());
  }
  EXPECT_EQ(p->measured_at.size(), 20u);  // 2025-01-02T03:04:05Z

  m.threads = {0};
  EXPECT_EQ(measure_profile(m).error().code(), ErrorCode::kInvalidArgument);
}

TEST(HardwareProfile, LoadOrMeasureUsesAndInvalidatesTheCache) {
  const std::string dir = testing::make_temp_dir("hw_load_or_measure");
  LoadOptions options;
  options.measure = tiny_measurement();
  options.cache_path = std::filesystem::path(dir) / "lathe" / "hw.json";

  // Nothing cached, and measuring not allowed: a clear error.
  options.allow_measure = false;
  auto refused = load_or_measure(options);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message().find("lathe hw"), std::string::npos);
  options.allow_measure = true;

  auto first = load_or_measure(options);
  ASSERT_TRUE(first.has_value()) << first.error().message();
  EXPECT_FALSE(first->from_cache);
  EXPECT_TRUE(first->cache_written);
  EXPECT_EQ(first->cache_path, options.cache_path);
  ASSERT_TRUE(std::filesystem::exists(options.cache_path));

  auto second = load_or_measure(options);
  ASSERT_TRUE(second.has_value()) << second.error().message();
  EXPECT_TRUE(second->from_cache);
  EXPECT_EQ(second->profile.measured_at, first->profile.measured_at);
  EXPECT_EQ(second->profile.results.size(), 2u);

  // Also without measuring, now that a matching profile exists.
  options.allow_measure = false;
  EXPECT_TRUE(load_or_measure(options).has_value());
  options.allow_measure = true;

  // The cached profile claims another CPU: it is stale and gets replaced.
  HardwareProfile foreign = second->profile;
  foreign.cpu.brand = "Some Other CPU";
  ASSERT_TRUE(save_profile(options.cache_path, foreign).ok());
  auto third = load_or_measure(options);
  ASSERT_TRUE(third.has_value()) << third.error().message();
  EXPECT_FALSE(third->from_cache);
  EXPECT_NE(third->note.find("CPU changed"), std::string::npos);
  EXPECT_EQ(load_profile(options.cache_path)->cpu.brand, CpuIdentity::current().brand);

  // --refresh measures even though the cache matches.
  options.refresh = true;
  auto refreshed = load_or_measure(options);
  ASSERT_TRUE(refreshed.has_value());
  EXPECT_FALSE(refreshed->from_cache);
  options.refresh = false;

  // A corrupt cache is ignored with a note, then overwritten.
  std::ofstream(options.cache_path) << "garbage";
  auto fourth = load_or_measure(options);
  ASSERT_TRUE(fourth.has_value());
  EXPECT_FALSE(fourth->from_cache);
  EXPECT_NE(fourth->note.find("ignoring the cache"), std::string::npos);
  EXPECT_TRUE(load_profile(options.cache_path).has_value());

  // --no-cache touches no file.
  std::filesystem::remove(options.cache_path);
  options.use_cache = false;
  auto uncached = load_or_measure(options);
  ASSERT_TRUE(uncached.has_value());
  EXPECT_FALSE(uncached->cache_written);
  EXPECT_TRUE(uncached->cache_path.empty());
  EXPECT_FALSE(std::filesystem::exists(options.cache_path));
}

TEST(HardwareProfile, UnwritableCacheIsANoteNotAFailure) {
  const std::string dir = testing::make_temp_dir("hw_unwritable");
  // A regular file where the cache directory should be.
  std::ofstream(std::filesystem::path(dir) / "blocker") << "x";
  LoadOptions options;
  options.measure = tiny_measurement();
  options.measure.threads = {1};
  options.cache_path = std::filesystem::path(dir) / "blocker" / "hw.json";
  auto result = load_or_measure(options);
  ASSERT_TRUE(result.has_value()) << result.error().message();
  EXPECT_FALSE(result->cache_written);
  EXPECT_NE(result->note.find("not cached"), std::string::npos);
}

}  // namespace
}  // namespace lathe::hw
