#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <vector>

#include "core/mapped_file.h"
#include "support/fixtures.h"

namespace lathe {
namespace {

TEST(MappedFile, MapAndReadGiveTheSameBytes) {
  const std::string dir = testing::make_temp_dir("mapped");
  const std::string path = dir + "/data.bin";
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 10000; ++i) out.put(static_cast<char>(i * 7));
  }
  auto mapped = MappedFile::open(path, FileLoadMode::kMmap);
  auto read = MappedFile::open(path, FileLoadMode::kRead);
  ASSERT_TRUE(mapped) << mapped.error().message();
  ASSERT_TRUE(read) << read.error().message();
  EXPECT_TRUE(mapped->is_mmapped());
  EXPECT_FALSE(read->is_mmapped());
  ASSERT_EQ(mapped->size(), 10000u);
  ASSERT_EQ(read->size(), 10000u);
  EXPECT_EQ(0, std::memcmp(mapped->data(), read->data(), 10000));
  EXPECT_EQ(mapped->data()[9999], static_cast<uint8_t>(9999 * 7));
  mapped->prefetch(100, 1 << 20);  // past the end is clamped
}

TEST(MappedFile, ReadCopiesRangesInBothModesAndAfterReleaseAndMove) {
  const std::string path = testing::make_temp_dir("mapped_read") + "/data.bin";
  constexpr int kSize = 3 * 4096 + 123;
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < kSize; ++i) out.put(static_cast<char>(i * 13 + 5));
  }
  auto expected = [](size_t i) { return static_cast<uint8_t>(i * 13 + 5); };
  for (FileLoadMode mode : {FileLoadMode::kMmap, FileLoadMode::kRead}) {
    auto opened = MappedFile::open(path, mode);
    ASSERT_TRUE(opened) << opened.error().message();
    // The released pages are read from the file again, and a moved file keeps its descriptor.
    opened->release(opened->data(), opened->size());
    MappedFile file = std::move(*opened);
    std::vector<uint8_t> out(5000, 0);
    ASSERT_TRUE(file.read(4000, out.data(), out.size()).ok());
    for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], expected(4000 + i)) << i;
    ASSERT_TRUE(file.read(kSize - 1, out.data(), 1).ok());
    EXPECT_EQ(out[0], expected(kSize - 1));
    EXPECT_TRUE(file.read(kSize, out.data(), 0).ok());
    const Status past_end = file.read(kSize - 10, out.data(), 11);
    ASSERT_FALSE(past_end.ok());
    EXPECT_EQ(past_end.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(past_end.message().find("outside"), std::string::npos);
    EXPECT_FALSE(file.read(size_t{1} << 62, out.data(), size_t{1} << 62).ok());
  }
}

TEST(MappedFile, MissingFileAndDirectoryAreClearErrors) {
  auto missing = MappedFile::open("/nonexistent/lathe-file");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kIo);
  EXPECT_NE(missing.error().message().find("/nonexistent/lathe-file"), std::string::npos);
  auto dir = MappedFile::open("/tmp");
  ASSERT_FALSE(dir);
  EXPECT_NE(dir.error().message().find("not a regular file"), std::string::npos);
}

TEST(MappedFile, EmptyFileIsEmpty) {
  const std::string path = testing::make_temp_dir("empty") + "/empty.bin";
  { std::ofstream out(path); }
  auto file = MappedFile::open(path);
  ASSERT_TRUE(file);
  EXPECT_EQ(file->size(), 0u);
}

}  // namespace
}  // namespace lathe
