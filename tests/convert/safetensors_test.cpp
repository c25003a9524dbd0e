// The safetensors reader: values of every float dtype, sharded folders, and hostile headers.
#include "convert/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "convert/convert_test_util.h"
#include "support/fixtures.h"

namespace lathe::convert {
namespace {

using ::testing::HasSubstr;
using namespace convert::testing;

Expected<SafetensorsFile> parse(const std::vector<uint8_t>& bytes) {
  return SafetensorsFile::parse(MappedFile::from_bytes(bytes), "test.safetensors");
}

std::string parse_error(const std::vector<uint8_t>& bytes) {
  auto f = parse(bytes);
  return f ? std::string("(parsed)") : f.error().message();
}

TEST(Safetensors, ReadsEveryFloatDtype) {
  // Values exact in every dtype, so the conversion must reproduce them bit for bit.
  const std::vector<float> values = {0.0f, -1.5f, 2.25f, 1024.0f, -0.0078125f, 3.0f};
  for (const char* dtype : {"F32", "F16", "BF16", "F64"}) {
    SCOPED_TRACE(dtype);
    auto f = parse(safetensors_bytes({st_entry("w", {2, 3}, values, dtype)}));
    ASSERT_TRUE(f) << f.error().message();
    const StTensor* t = f->find("w");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->n_rows(), 2);
    EXPECT_EQ(t->n_cols(), 3);
    std::vector<float> out(6);
    ASSERT_TRUE(read_rows_f32(*t, 0, 2, out.data()).ok());
    EXPECT_EQ(out, values);
    std::vector<float> row(3);
    ASSERT_TRUE(read_rows_f32(*t, 1, 1, row.data()).ok());
    EXPECT_EQ(row, std::vector<float>(values.begin() + 3, values.end()));
  }
}

TEST(Safetensors, ReadsMetadataAndScalars) {
  auto f = parse(safetensors_bytes({st_entry("scalar", {}, {7.0f}), st_entry("v", {2}, {1, 2})},
                                   {{"format", "pt"}, {"a.weight", "b.weight"}}));
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ(f->metadata().at("a.weight"), "b.weight");
  const StTensor* s = f->find("scalar");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->n_elements, 1);
  EXPECT_EQ(s->n_rows(), 1);
  float v = 0;
  ASSERT_TRUE(read_rows_f32(*s, 0, 1, &v).ok());
  EXPECT_EQ(v, 7.0f);
}

TEST(Safetensors, RefusesNonFloatReadsAndRowsOutOfRange) {
  std::vector<uint8_t> ints;
  for (int32_t i = 0; i < 4; ++i) append(ints, i);
  auto f =
      parse(safetensors_bytes({{"ids", "I32", {4}, ints}, st_entry("w", {2, 2}, {1, 2, 3, 4})}));
  ASSERT_TRUE(f) << f.error().message();
  std::vector<float> out(4);
  Status s = read_rows_f32(*f->find("ids"), 0, 1, out.data());
  EXPECT_THAT(s.message(), HasSubstr("I32 cannot be converted"));
  EXPECT_FALSE(read_rows_f32(*f->find("w"), 1, 2, out.data()).ok());
  EXPECT_FALSE(read_rows_f32(*f->find("w"), -1, 1, out.data()).ok());
}

TEST(Safetensors, HostileHeadersGiveClearErrors) {
  const std::vector<uint8_t> data(16, 0);
  struct Case {
    std::string header;
    std::string message;
  };
  const Case cases[] = {
      {R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,32]}})", "run past the end"},
      {R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[8,4]}})", "reversed"},
      {R"({"w":{"dtype":"F32","shape":[3,2],"data_offsets":[0,16]}})", "needs 24"},
      {R"({"w":{"dtype":"F99","shape":[4],"data_offsets":[0,16]}})", "unknown dtype 'F99'"},
      {R"({"w":{"dtype":7,"shape":[4],"data_offsets":[0,16]}})", "dtype"},
      {R"({"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})", "invalid dimension"},
      {R"({"w":{"dtype":"F32","shape":"4","data_offsets":[0,16]}})", "missing shape"},
      {R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0]}})", "data_offsets"},
      {R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[-1,15]}})", "data_offsets"},
      {R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,16]}})",
       "overflows"},
      {R"({"w":{"dtype":"F32","shape":[1048576,1048576,1048576],"data_offsets":[0,16]}})",
       "too large"},
      {R"({"w":{"dtype":"F32","shape":[2199023255553],"data_offsets":[0,16]}})",
       "invalid dimension"},
      {R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},)"
       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
       "overlap"},
      {R"({"w":[1,2]})", "not an object"},
      {R"({"__metadata__":{"k":1}})", "not a string"},
      {R"([1,2,3])", "not a JSON object"},
      {R"({"w":)", "not valid JSON"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.header);
    const std::string message = parse_error(safetensors_raw(c.header, data));
    EXPECT_THAT(message, HasSubstr(c.message));
    EXPECT_THAT(message, HasSubstr("test.safetensors"));
  }
}

TEST(Safetensors, HostileLengths) {
  EXPECT_THAT(parse_error({1, 2, 3}), HasSubstr("too short"));
  std::vector<uint8_t> bytes;
  append(bytes, uint64_t{1000});
  bytes.push_back('{');
  EXPECT_THAT(parse_error(bytes), HasSubstr("runs past the end"));
  bytes.clear();
  append(bytes, ~uint64_t{0});
  EXPECT_THAT(parse_error(bytes), HasSubstr("exceeds"));
}

// Every truncation and many random corruptions of a valid file parse or fail cleanly; whatever
// parses reads only inside the file (run under ASan in the sanitizer build).
TEST(Safetensors, TruncationAndCorruptionNeverCrash) {
  const auto good = safetensors_bytes(
      {st_entry("a", {2, 3}, {1, 2, 3, 4, 5, 6}), st_entry("b", {4}, {1, 2, 3, 4}, "BF16")});
  for (size_t n = 0; n < good.size(); ++n) {
    auto f = parse(std::vector<uint8_t>(good.begin(), good.begin() + static_cast<long>(n)));
    EXPECT_FALSE(f) << "truncated to " << n << " bytes";
  }
  std::mt19937 rng(42);
  for (int trial = 0; trial < 3000; ++trial) {
    auto bytes = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
    }
    auto f = parse(bytes);
    if (!f) continue;
    std::vector<float> out;
    for (const StTensor& t : f->tensors()) {
      out.resize(static_cast<size_t>(t.n_elements));
      (void)read_rows_f32(t, 0, t.n_rows(), out.data());
    }
  }
}

TEST(Safetensors, ShardedFolderFollowsTheIndex) {
  const std::string dir = lathe::testing::make_temp_dir("shards");
  write_bytes(dir + "/part-1.safetensors", safetensors_bytes({st_entry("a", {2}, {1, 2})}));
  write_bytes(dir + "/part-2.safetensors", safetensors_bytes({st_entry("b", {1}, {3})}));
  write_bytes(dir + "/stray.safetensors", safetensors_bytes({st_entry("c", {1}, {4})}));
  write_text(dir + "/model.safetensors.index.json",
             R"({"metadata":{},"weight_map":{"a":"part-1.safetensors","b":"part-2.safetensors"}})");
  auto set = SafetensorsSet::open_dir(dir);
  ASSERT_TRUE(set) << set.error().message();
  EXPECT_EQ(set->file_count(), 2u);
  EXPECT_EQ(set->names(), (std::vector<std::string>{"a", "b"}));

  write_text(dir + "/model.safetensors.index.json",
             R"({"weight_map":{"a":"../part-1.safetensors"}})");
  auto escaped = SafetensorsSet::open_dir(dir);
  ASSERT_FALSE(escaped);
  EXPECT_THAT(escaped.error().message(), HasSubstr("not a file name"));

  // Without an index every *.safetensors counts, and a name in two files is an error.
  std::filesystem::remove(dir + "/model.safetensors.index.json");
  write_bytes(dir + "/stray.safetensors", safetensors_bytes({st_entry("a", {1}, {4})}));
  auto dup = SafetensorsSet::open_dir(dir);
  ASSERT_FALSE(dup);
  EXPECT_THAT(dup.error().message(), HasSubstr("more than one file"));
}

TEST(Safetensors, EmptyFolderSaysWhatIsMissing) {
  const std::string dir = lathe::testing::make_temp_dir("empty");
  write_text(dir + "/pytorch_model.bin", "pickle");
  auto set = SafetensorsSet::open_dir(dir);
  ASSERT_FALSE(set);
  EXPECT_THAT(set.error().message(), HasSubstr("pickle"));
}

TEST(Safetensors, RealCheckpointHeader) {
  LATHE_SHARED_FIXTURE_OR_SKIP(path, "real/TinyStories-656K/model.safetensors");
  auto f = SafetensorsFile::open(path);
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ(f->tensors().size(), 20u);
  const StTensor* head = f->find("lm_head.weight");
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(head->shape, (std::vector<int64_t>{2048, 128}));
  EXPECT_EQ(head->dtype, StDtype::kF32);
  // safetensors dropped the tied embedding and recorded it as an alias.
  EXPECT_EQ(f->find("model.embed_tokens.weight"), nullptr);
  EXPECT_EQ(f->metadata().at("model.embed_tokens.weight"), "lm_head.weight");
}

}  // namespace
}  // namespace lathe::convert
