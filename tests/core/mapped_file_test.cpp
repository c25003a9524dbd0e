#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

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
