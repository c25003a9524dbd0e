// The llama2.c checkpoint reader: both layouts, shared and separate classifiers, hostile headers.
#include "convert/llama2c.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "convert/convert_test_util.h"
#include "support/fixtures.h"

namespace lathe::convert {
namespace {

using ::testing::HasSubstr;
using namespace convert::testing;
using W = Llama2cWeight;

Expected<Llama2cCheckpoint> parse(const std::vector<uint8_t>& bytes) {
  return Llama2cCheckpoint::parse(MappedFile::from_bytes(bytes), "model.bin");
}

// Every weight of every layer holds the values llama2c_bytes wrote for it.
void expect_layout(const Llama2cCheckpoint& ck) {
  const Llama2cConfig& c = ck.config();
  for (int k = 0; k <= 11; ++k) {
    const W w = static_cast<W>(k);
    // The shared classifier is the embedding (kind 0).
    const int source_kind = (w == W::kClassifier && c.shared_classifier) ? 0 : k;
    const int64_t layers = ck.per_layer(w) ? c.n_layers : 1;
    const int64_t per = ck.rows(w) * ck.cols(w);
    for (int64_t l = 0; l < layers; ++l) {
      std::vector<float> out(static_cast<size_t>(per));
      ASSERT_TRUE(ck.read_rows(w, l, 0, ck.rows(w), out.data()).ok());
      for (int64_t i = 0; i < per; ++i) {
        ASSERT_EQ(out[static_cast<size_t>(i)], llama2c_value(source_kind, l * per + i))
            << "kind " << k << " layer " << l << " index " << i;
      }
    }
  }
}

TEST(Llama2c, LegacyLayoutSharedAndSeparateClassifier) {
  for (bool shared : {true, false}) {
    SCOPED_TRACE(shared ? "shared" : "own classifier");
    Llama2cShape s;
    s.shared = shared;
    auto ck = parse(llama2c_bytes(s));
    ASSERT_TRUE(ck) << ck.error().message();
    const Llama2cConfig& c = ck->config();
    EXPECT_EQ(c.version, 0);
    EXPECT_EQ(c.dim, 8);
    EXPECT_EQ(c.hidden_dim, 12);
    EXPECT_EQ(c.n_layers, 2);
    EXPECT_EQ(c.n_heads, 2);
    EXPECT_EQ(c.n_kv_heads, 1);
    EXPECT_EQ(c.vocab_size, 6);  // positive even when the file stores -6
    EXPECT_EQ(c.seq_len, 4);
    EXPECT_EQ(c.shared_classifier, shared);
    EXPECT_EQ(ck->rows(W::kWk), 4);  // one kv head of 4
    expect_layout(*ck);
  }
}

TEST(Llama2c, Version1Layout) {
  for (bool shared : {true, false}) {
    Llama2cShape s;
    s.version = 1;
    s.shared = shared;
    auto ck = parse(llama2c_bytes(s));
    ASSERT_TRUE(ck) << ck.error().message();
    EXPECT_EQ(ck->config().version, 1);
    EXPECT_EQ(ck->config().shared_classifier, shared);
    expect_layout(*ck);
  }
}

TEST(Llama2c, RefusesVersion2) {
  Llama2cShape s;
  s.version = 1;
  auto bytes = llama2c_bytes(s);
  bytes[4] = 2;  // version 2: int8 weights
  auto ck = parse(bytes);
  ASSERT_FALSE(ck);
  EXPECT_THAT(ck.error().message(), HasSubstr("version 2 is not supported"));
}

TEST(Llama2c, TruncatedAtEveryLengthIsAnError) {
  for (int version : {0, 1}) {
    Llama2cShape s;
    s.version = version;
    s.shared = false;
    const auto good = llama2c_bytes(s);
    for (size_t n = 0; n < good.size(); n += (n < 300 ? 1 : 37)) {
      auto ck = parse(std::vector<uint8_t>(good.begin(), good.begin() + static_cast<long>(n)));
      ASSERT_FALSE(ck) << n;
      EXPECT_THAT(ck.error().message(), HasSubstr("truncated")) << n;
      EXPECT_THAT(ck.error().message(), HasSubstr("model.bin")) << n;
    }
    auto longer = good;
    longer.resize(good.size() + 4);
    auto ck = parse(longer);
    ASSERT_FALSE(ck);
    EXPECT_THAT(ck.error().message(), HasSubstr("4 bytes follow the weights"));
  }
}

TEST(Llama2c, HostileHeaders) {
  struct Case {
    int field;  // index into the 7 header ints
    int32_t value;
    std::string message;
  };
  const Case cases[] = {
      {0, 0, "dim is 0"},
      {2, -1, "n_layers is -1"},
      {3, 3, "not a multiple of n_heads"},
      {4, 3, "not a multiple of n_kv_heads"},
      {4, 4, "not a multiple of n_kv_heads"},  // more kv heads than heads
      {5, INT32_MIN, "vocab_size is invalid"},
      {0, 6, "head size 3 is odd"},
      {0, 65536, "truncated"},
      {1, 0x7fffffff, "truncated"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    Llama2cShape s;
    auto bytes = llama2c_bytes(s);
    std::memcpy(bytes.data() + 4 * c.field, &c.value, 4);
    auto ck = parse(bytes);
    ASSERT_FALSE(ck);
    EXPECT_THAT(ck.error().message(), HasSubstr(c.message));
  }
  // Sizes whose product overflows 64 bits.
  Llama2cShape s;
  auto bytes = llama2c_bytes(s);
  const int32_t huge[7] = {0x40000000, 0x40000000, 0x40000000, 2, 2, 0x40000000, 0x40000000};
  std::memcpy(bytes.data(), huge, sizeof huge);
  auto ck = parse(bytes);
  ASSERT_FALSE(ck);
  EXPECT_THAT(ck.error().message(), HasSubstr("overflow"));
}

// Random small headers over random amounts of data: a header either describes the file exactly
// (and then every weight reads inside it; ASan checks in the sanitizer build) or is refused.
TEST(Llama2c, RandomHeadersNeverReadOutside) {
  std::mt19937 rng(3);
  int accepted = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    // A well-formed file of a random small shape, then maybe one header field replaced and the
    // size changed.
    Llama2cShape shape;
    shape.version = static_cast<int>(rng() % 2);
    shape.shared = rng() % 2 == 0;
    shape.heads = 1 + static_cast<int32_t>(rng() % 4);
    shape.kv_heads = 1 + static_cast<int32_t>(rng() % 4);
    shape.dim = shape.heads * 2 * (1 + static_cast<int32_t>(rng() % 3));
    shape.hidden = 1 + static_cast<int32_t>(rng() % 20);
    shape.layers = 1 + static_cast<int32_t>(rng() % 3);
    shape.vocab = 1 + static_cast<int32_t>(rng() % 10);
    shape.seq_len = 1 + static_cast<int32_t>(rng() % 5);
    auto bytes = llama2c_bytes(shape);
    if (rng() % 2 == 0) {
      const size_t field = (shape.version == 1 ? 8 : 0) + 4 * (rng() % 7);
      const int32_t value = static_cast<int32_t>(rng() % 40) - 4;
      std::memcpy(bytes.data() + field, &value, 4);
      bytes.resize(bytes.size() + rng() % 64 - 32);
    }
    auto ck = parse(bytes);
    if (!ck) continue;
    ++accepted;
    std::vector<float> out;
    for (int k = 0; k <= 11; ++k) {
      const W w = static_cast<W>(k);
      out.resize(static_cast<size_t>(ck->rows(w) * ck->cols(w)));
      for (int64_t l = 0; l < (ck->per_layer(w) ? ck->config().n_layers : 1); ++l) {
        ASSERT_TRUE(ck->read_rows(w, l, 0, ck->rows(w), out.data()).ok());
      }
    }
  }
  EXPECT_GT(accepted, 0);
}

TEST(Llama2c, ReadRowsChecksRange) {
  auto ck = parse(llama2c_bytes(Llama2cShape{}));
  ASSERT_TRUE(ck);
  std::vector<float> out(1000);
  EXPECT_FALSE(ck->read_rows(W::kWq, 2, 0, 1, out.data()).ok());  // layer 2 of 2
  EXPECT_FALSE(ck->read_rows(W::kWq, 0, 7, 2, out.data()).ok());  // rows 7..8 of 8
  EXPECT_TRUE(ck->read_rows(W::kWq, 1, 7, 1, out.data()).ok());
}

TEST(Llama2c, Stories260K) {
  LATHE_SHARED_FIXTURE_OR_SKIP(path, "real/stories260K/stories260K.bin");
  auto ck = Llama2cCheckpoint::open(path);
  ASSERT_TRUE(ck) << ck.error().message();
  const Llama2cConfig& c = ck->config();
  EXPECT_EQ(c.version, 0);
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.hidden_dim, 172);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.seq_len, 512);
  EXPECT_TRUE(c.shared_classifier);
}

}  // namespace
}  // namespace lathe::convert
