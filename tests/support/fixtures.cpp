#include "support/fixtures.h"

#include <unistd.h>

#include <array>
#include <cstring>
#include <sys/wait.h>
#include <cstdio>
#include <fstream>

namespace lathe::testing {

std::string fixture_path(const std::string& relative) {
  return std::string(LATHE_TEST_FIXTURES_DIR) + "/" + relative;
}

std::optional<std::string> shared_fixture_path(const std::string& relative) {
  std::string path = std::string(LATHE_SHARED_FIXTURES_DIR) + "/" + relative;
  if (!std::filesystem::exists(path)) return std::nullopt;
  return path;
}

std::optional<std::string> any_fixture_path(const std::string& relative) {
  std::string local = fixture_path(relative);
  if (std::filesystem::exists(local)) return local;
  return shared_fixture_path(relative);
}

std::string lathe_binary() { return std::string(LATHE_BINARY_DIR) + "/bin/lathe"; }

std::string make_temp_dir(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string test = info ? std::string(info->test_suite_name()) + "." + info->name() : "test";
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("lathe-" + std::to_string(::getpid()) + "-" + test + "-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

std::vector<float> read_f32_file(const std::string& path) {
  auto bytes = read_file_bytes(path);
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

int run_command(const std::string& command, std::string* output) {
  std::string full = command + " 2>&1";
  std::FILE* pipe = ::popen(full.c_str(), "r");
  if (pipe == nullptr) return -1;
  std::array<char, 4096> buffer;
  std::string text;
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) text.append(buffer.data(), n);
  int status = ::pclose(pipe);
  if (output) *output = text;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return -1;
}

}  // namespace lathe::testing
