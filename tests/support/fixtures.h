// Where test fixtures live, and skipping with a reason when a large one is absent.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace lathe::testing {

// A file under tests/fixtures/ (copied into the repository).
std::string fixture_path(const std::string& relative);

// A file under ../shared/fixtures/, or nullopt when it is not present on this machine.
std::optional<std::string> shared_fixture_path(const std::string& relative);

// A fixture that the repository may carry a copy of: tests/fixtures/<relative> when present,
// else ../shared/fixtures/<relative>, else nullopt.
std::optional<std::string> any_fixture_path(const std::string& relative);

// The built `lathe` binary.
std::string lathe_binary();

// A fresh empty directory for one test's outputs.
std::string make_temp_dir(const std::string& name);

std::vector<uint8_t> read_file_bytes(const std::string& path);
std::vector<float> read_f32_file(const std::string& path);

// Runs a shell command; returns its exit code and fills `output` with stdout+stderr.
int run_command(const std::string& command, std::string* output);

}  // namespace lathe::testing

// Skips the current test when a fixture is in neither place, naming it.
#define LATHE_FIXTURE_OR_SKIP(var, relative)                                            \
  std::string var;                                                                      \
  do {                                                                                  \
    auto lathe_found_ = ::lathe::testing::any_fixture_path(relative);                   \
    if (!lathe_found_) GTEST_SKIP() << "fixture " << (relative) << " is absent";        \
    var = *lathe_found_;                                                                \
  } while (0)

// Skips the current test when a ../shared fixture is missing, naming it.
#define LATHE_SHARED_FIXTURE_OR_SKIP(var, relative)                                     \
  std::string var;                                                                      \
  do {                                                                                  \
    auto lathe_found_ = ::lathe::testing::shared_fixture_path(relative);                \
    if (!lathe_found_) GTEST_SKIP() << "../shared/fixtures/" << (relative) << " is absent"; \
    var = *lathe_found_;                                                                \
  } while (0)
