// The streaming TensorDataSink: data in pieces of any size, and no file left behind when the
// data is incomplete, too long, or abandoned.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "gguf/gguf_writer.h"
#include "gguf_test_util.h"
#include "support/fixtures.h"

namespace lathe::gguf {
namespace {

using ::testing::HasSubstr;

// Three tensors of awkward sizes (none a multiple of the alignment), one of them empty.
Writer three_tensors() {
  Writer w;
  w.set_string("general.name", "sink");
  const int64_t a[] = {7};
  const int64_t e[] = {0};
  const int64_t c[] = {32, 3};
  EXPECT_TRUE(w.add_tensor("a", TensorType::kI8, a).ok());
  EXPECT_TRUE(w.add_tensor("e", TensorType::kF32, e).ok());
  EXPECT_TRUE(w.add_tensor("c", TensorType::kQ8_0, c).ok());
  return w;
}

std::vector<uint8_t> all_data(const Writer& w) {
  std::vector<uint8_t> out;
  for (size_t k = 0; k < w.tensor_count(); ++k) {
    const auto p = testing::pattern(w.tensor_bytes(k), k);
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

bool exists(const std::string& path) {
  return std::filesystem::exists(path);
}

TEST(GgufSink, PiecesOfOddSizesGiveTheSameFile) {
  const Writer w = three_tensors();
  const auto expected = testing::write_with_pattern(w);
  const auto data = all_data(w);
  const std::string dir = lathe::testing::make_temp_dir("sink");
  for (size_t piece : {size_t{1}, size_t{3}, size_t{5}, size_t{64}, data.size()}) {
    SCOPED_TRACE(piece);
    const std::string path = cat(dir, "/out", piece, ".gguf");
    auto sink = w.begin(path);
    ASSERT_TRUE(sink) << sink.error().message();
    EXPECT_FALSE(exists(path));  // only the partial file exists until finish()
    EXPECT_TRUE(exists(path + ".partial"));
    for (size_t at = 0; at < data.size(); at += piece) {
      const size_t n = std::min(piece, data.size() - at);
      ASSERT_TRUE(sink->write(std::span<const uint8_t>(data).subspan(at, n)).ok());
      ASSERT_TRUE(sink->write({}).ok());  // empty writes are harmless
    }
    EXPECT_EQ(sink->current_tensor(), 3u);
    ASSERT_TRUE(sink->finish().ok());
    EXPECT_FALSE(exists(path + ".partial"));
    EXPECT_EQ(lathe::testing::read_file_bytes(path), expected);
    auto file = File::open(path);
    ASSERT_TRUE(file) << file.error().message();
    EXPECT_EQ(file->tensors().size(), 3u);
  }
}

TEST(GgufSink, MissingBytesLeaveNoFile) {
  const Writer w = three_tensors();
  const auto data = all_data(w);
  const std::string dir = lathe::testing::make_temp_dir("sink");
  const std::string path = dir + "/out.gguf";
  auto sink = w.begin(path);
  ASSERT_TRUE(sink);
  ASSERT_TRUE(sink->write(std::span<const uint8_t>(data).first(data.size() - 5)).ok());
  const Status status = sink->finish();
  EXPECT_EQ(status.message(), "tensor 'c' is missing 5 of its 102 bytes");
  EXPECT_FALSE(exists(path));
  EXPECT_FALSE(exists(path + ".partial"));  // gone at once, not only when the sink dies
  EXPECT_THAT(sink->write(data).message(), HasSubstr("failed earlier"));
  EXPECT_THAT(sink->finish().message(), HasSubstr("failed earlier"));

  auto none = w.begin(path);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->finish().message(),
            "tensor 'a' is missing 7 of its 7 bytes (and 2 more tensors have no data)");
  EXPECT_FALSE(exists(path));
  EXPECT_FALSE(exists(path + ".partial"));
}

TEST(GgufSink, TooManyBytesLeaveNoFile) {
  const Writer w = three_tensors();
  auto data = all_data(w);
  data.push_back(0);
  const std::string dir = lathe::testing::make_temp_dir("sink");
  const std::string path = dir + "/out.gguf";
  auto sink = w.begin(path);
  ASSERT_TRUE(sink);
  EXPECT_EQ(sink->write(data).message(),
            "more tensor data than the 3 declared tensors hold (1 bytes too many)");
  EXPECT_FALSE(exists(path + ".partial"));
  EXPECT_FALSE(exists(path));
}

TEST(GgufSink, AbandonedSinkLeavesNoFileAndKeepsTheOldOne) {
  const Writer w = three_tensors();
  const std::string dir = lathe::testing::make_temp_dir("sink");
  const std::string path = dir + "/out.gguf";
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    std::fputs("old", f);
    std::fclose(f);
  }
  {
    auto sink = w.begin(path);
    ASSERT_TRUE(sink);
    const uint8_t byte = 1;
    ASSERT_TRUE(sink->write(std::span<const uint8_t>(&byte, 1)).ok());
  }
  EXPECT_FALSE(exists(path + ".partial"));
  EXPECT_EQ(lathe::testing::read_file_bytes(path), (std::vector<uint8_t>{'o', 'l', 'd'}));
}

TEST(GgufSink, OnlyEmptyTensorsNeedNoData) {
  Writer w;
  const int64_t e[] = {0, 3};
  ASSERT_TRUE(w.add_tensor("e1", TensorType::kF32, e).ok());
  ASSERT_TRUE(w.add_tensor("e2", TensorType::kQ4_0, std::span<const int64_t>(e, 1)).ok());
  const std::string dir = lathe::testing::make_temp_dir("sink");
  auto sink = w.begin(dir + "/e.gguf");
  ASSERT_TRUE(sink);
  EXPECT_EQ(sink->current_tensor(), 2u);
  ASSERT_TRUE(sink->finish().ok());
  EXPECT_EQ(sink->finish().message(), "GGUF sink finished twice");
  auto file = File::open(dir + "/e.gguf");
  ASSERT_TRUE(file) << file.error().message();
  EXPECT_EQ(file->tensors().size(), 2u);
}

TEST(GgufSink, UnwritableDirectory) {
  const Writer w = three_tensors();
  auto sink = w.begin("/nonexistent-dir/x.gguf");
  ASSERT_FALSE(sink);
  EXPECT_THAT(sink.error().message(), HasSubstr("cannot create /nonexistent-dir/x.gguf.partial"));
}

}  // namespace
}  // namespace lathe::gguf
