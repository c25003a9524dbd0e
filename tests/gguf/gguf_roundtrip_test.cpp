// Writer -> reader round trips: every value type, arrays (empty, bool, string, nested), tensors of
// several types and shapes, alignments other than 32, and the typed getters' messages.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "gguf_test_util.h"
#include "support/fixtures.h"

namespace lathe::gguf {
namespace {

using testing::parse;
using testing::pattern;
using testing::write_with_pattern;

TEST(GgufRoundTrip, EveryScalarType) {
  Writer w;
  w.set_u8("u8", 255);
  w.set_i8("i8", -128);
  w.set_u16("u16", 65535);
  w.set_i16("i16", -32768);
  w.set_u32("u32", 4294967295u);
  w.set_i32("i32", std::numeric_limits<int32_t>::min());
  w.set_u64("u64", std::numeric_limits<uint64_t>::max());
  w.set_i64("i64", std::numeric_limits<int64_t>::min());
  w.set_f32("f32", -1.5f);
  w.set_f64("f64", 0.1);
  w.set_bool("t", true);
  w.set_bool("f", false);
  w.set_string("s", "héllo\nworld");
  w.set_string("empty", "");
  const auto bytes = write_with_pattern(w);
  auto file = parse(bytes);
  ASSERT_TRUE(file) << file.error().message();
  EXPECT_EQ(file->version(), 3u);
  EXPECT_EQ(file->metadata().size(), 14u);
  EXPECT_TRUE(file->tensors().empty());

  EXPECT_EQ(file->find("u8")->type(), ValueType::kUint8);
  EXPECT_EQ(file->find("u8")->as_u64(), 255u);
  EXPECT_EQ(file->find("i8")->as_i64(), -128);
  EXPECT_EQ(file->find("u16")->as_u64(), 65535u);
  EXPECT_EQ(file->find("i16")->as_i64(), -32768);
  EXPECT_EQ(*file->get_u32("u32"), 4294967295u);
  EXPECT_EQ(*file->get_i32("i32"), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(*file->get_u64("u64"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(*file->get_i64("i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(*file->get_f32("f32"), -1.5f);
  EXPECT_EQ(*file->get_f64("f64"), 0.1);  // exactly: f64 is not squeezed through f32
  EXPECT_TRUE(*file->get_bool("t"));
  EXPECT_FALSE(*file->get_bool("f"));
  EXPECT_EQ(*file->get_string("s"), "héllo\nworld");
  EXPECT_EQ(*file->get_string("empty"), "");
  // Keys keep the order they were set in.
  EXPECT_EQ(file->metadata().front().key, "u8");
  EXPECT_EQ(file->metadata().back().key, "empty");
}

TEST(GgufRoundTrip, ArraysOfEveryElementType) {
  Writer w;
  const uint8_t u8[] = {0, 1, 255};
  const int8_t i8[] = {-128, 0, 127};
  const uint16_t u16[] = {0, 65535};
  const int16_t i16[] = {-32768, 32767};
  const uint32_t u32[] = {1, 4294967295u};
  const int32_t i32[] = {-7, 7, 0};
  const uint64_t u64[] = {1, 1ull << 63};
  const int64_t i64[] = {std::numeric_limits<int64_t>::min(), 5};
  const float f32[] = {0.5f, -2.0f, 1e30f};
  const double f64[] = {1e300, -1e-300, 0.1};
  const bool bools[] = {true, false, false, true};
  const std::vector<std::string> strings = {"one", "", "three", "▁日本"};
  w.set_array<uint8_t>("u8", u8);
  w.set_array<int8_t>("i8", i8);
  w.set_array<uint16_t>("u16", u16);
  w.set_array<int16_t>("i16", i16);
  w.set_array<uint32_t>("u32", u32);
  w.set_array<int32_t>("i32", i32);
  w.set_array<uint64_t>("u64", u64);
  w.set_array<int64_t>("i64", i64);
  w.set_array<float>("f32", f32);
  w.set_array<double>("f64", f64);
  w.set_array<bool>("bool", bools);
  w.set_string_array("str", strings);
  w.set_array<float>("empty_f32", std::span<const float>());
  w.set_string_array("empty_str", std::span<const std::string>());
  const auto bytes = write_with_pattern(w);
  auto file = parse(bytes);
  ASSERT_TRUE(file) << file.error().message();

  auto ints = file->get_integer_array("i8");
  ASSERT_TRUE(ints);
  EXPECT_EQ(*ints, (std::vector<int64_t>{-128, 0, 127}));
  EXPECT_EQ(*file->get_integer_array("u8"), (std::vector<int64_t>{0, 1, 255}));
  EXPECT_EQ(*file->get_integer_array("u16"), (std::vector<int64_t>{0, 65535}));
  EXPECT_EQ(*file->get_integer_array("i16"), (std::vector<int64_t>{-32768, 32767}));
  EXPECT_EQ(*file->get_integer_array("u32"), (std::vector<int64_t>{1, 4294967295ll}));
  EXPECT_EQ(*file->get_integer_array("i32"), (std::vector<int64_t>{-7, 7, 0}));
  EXPECT_EQ(*file->get_integer_array("i64"),
            (std::vector<int64_t>{std::numeric_limits<int64_t>::min(), 5}));
  EXPECT_EQ(file->find("u64")->unsigned_at(1), 1ull << 63);
  EXPECT_EQ(*file->get_f32_array("f32"), (std::vector<float>{0.5f, -2.0f, 1e30f}));
  const Value* f = file->find("f64");
  ASSERT_EQ(f->array_type(), ValueType::kFloat64);
  EXPECT_EQ(f->numeric_at(0), 1e300);
  EXPECT_EQ(f->numeric_at(1), -1e-300);
  EXPECT_EQ(f->numeric_at(2), 0.1);
  const Value* b = file->find("bool");
  ASSERT_EQ(b->array_type(), ValueType::kBool);
  ASSERT_EQ(b->array_size(), 4u);
  EXPECT_EQ(b->to_display_string(), "[true, false, false, true]");
  auto strs = file->get_string_array("str");
  ASSERT_TRUE(strs);
  ASSERT_EQ(strs->size(), 4u);
  EXPECT_EQ((*strs)[0], "one");
  EXPECT_EQ((*strs)[1], "");
  EXPECT_EQ((*strs)[3], "▁日本");
  EXPECT_EQ(file->find("empty_f32")->array_size(), 0u);
  EXPECT_EQ(file->find("empty_f32")->type_description(), "array[float32]");
  EXPECT_TRUE(file->get_f32_array("empty_f32")->empty());
  EXPECT_TRUE(file->get_string_array("empty_str")->empty());
  EXPECT_EQ(file->find("empty_str")->to_display_string(), "[]");
}

TEST(GgufRoundTrip, NestedArrays) {
  Writer w;
  const int32_t ints[] = {1, 2, 3};
  const double reals[] = {0.5};
  const Value inner_ints = Value::of_array<int32_t>(ints);
  const Value inner_strs = Value::of_strings({"x", "", "yz"});
  const Value inner_f64 = Value::of_array<double>(reals);
  const Value empty = Value::of_arrays({});
  const Value level2 = Value::of_arrays({inner_ints, inner_strs, inner_f64, empty});
  ASSERT_TRUE(w.set_value("nested", level2).ok());
  ASSERT_TRUE(w.set_value("deeper", Value::of_arrays({level2, Value::of_arrays({empty})})).ok());
  ASSERT_TRUE(w.set_value("empty_outer", empty).ok());
  const auto bytes = write_with_pattern(w);
  auto file = parse(bytes);
  ASSERT_TRUE(file) << file.error().message();

  const Value* nested = file->find("nested");
  ASSERT_NE(nested, nullptr);
  EXPECT_EQ(nested->type_description(), "array[array[int32]]");
  ASSERT_EQ(nested->array_type(), ValueType::kArray);
  ASSERT_EQ(nested->array_values().size(), 4u);
  const auto& v = nested->array_values();
  EXPECT_EQ(v[0].array_type(), ValueType::kInt32);
  EXPECT_EQ(v[0].integer_at(2), 3);
  EXPECT_EQ(v[1].array_type(), ValueType::kString);
  EXPECT_EQ(v[1].array_strings()[1], "");
  EXPECT_EQ(v[1].array_strings()[2], "yz");
  EXPECT_EQ(v[2].numeric_at(0), 0.5);
  EXPECT_EQ(v[3].array_size(), 0u);
  EXPECT_EQ(nested->to_display_string(), "[[1, 2, 3], [\"x\", \"\", \"yz\"], [0.5], []]");

  const Value* deeper = file->find("deeper");
  EXPECT_EQ(deeper->type_description(), "array[array[array[int32]]]");
  EXPECT_EQ(deeper->array_values()[0].array_values()[1].array_strings()[0], "x");
  EXPECT_EQ(deeper->array_values()[1].array_values()[0].array_size(), 0u);
  EXPECT_EQ(file->find("empty_outer")->type_description(), "array[array]");
}

TEST(GgufRoundTrip, TensorsOfSeveralTypesAndShapes) {
  struct Case {
    const char* name;
    TensorType type;
    std::vector<int64_t> shape;
    uint64_t n_bytes;
  };
  const std::vector<Case> cases = {
      {"f32", TensorType::kF32, {4, 3}, 48},
      {"f16", TensorType::kF16, {5}, 10},
      {"bf16", TensorType::kBF16, {2, 2, 2, 2}, 32},
      {"q4_0", TensorType::kQ4_0, {64, 2}, 4 * 18},
      {"q8_0", TensorType::kQ8_0, {32, 1, 3}, 3 * 34},
      {"q4_k", TensorType::kQ4_K, {256, 2}, 2 * 144},
      {"q6_k", TensorType::kQ6_K, {256}, 210},
      {"iq4_xs", TensorType::kIQ4_XS, {256, 1}, 136},
      {"empty", TensorType::kF32, {0, 7}, 0},
      {"i8", TensorType::kI8, {3}, 3},
  };
  Writer w;
  w.set_string("general.architecture", "test");
  for (const auto& c : cases) ASSERT_TRUE(w.add_tensor(c.name, c.type, c.shape).ok()) << c.name;
  const auto bytes = write_with_pattern(w);
  auto file = parse(bytes);
  ASSERT_TRUE(file) << file.error().message();
  ASSERT_EQ(file->tensors().size(), cases.size());
  EXPECT_EQ(file->data_offset() % 32, 0u);
  uint64_t expected_offset = 0;
  for (size_t k = 0; k < cases.size(); ++k) {
    const TensorInfo& t = file->tensors()[k];
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.name, cases[k].name);
    EXPECT_EQ(t.type, cases[k].type);
    EXPECT_EQ(t.shape, cases[k].shape);
    EXPECT_EQ(t.n_bytes, cases[k].n_bytes);
    EXPECT_EQ(t.offset, expected_offset);  // in order, each padded to the alignment
    expected_offset += (t.n_bytes + 31) / 32 * 32;
    EXPECT_EQ(t.data, bytes.data() + file->data_offset() + t.offset);
    const auto want = pattern(t.n_bytes, k);
    EXPECT_TRUE(std::equal(want.begin(), want.end(), t.bytes().begin(), t.bytes().end()));
    EXPECT_EQ(file->find_tensor(cases[k].name), &t);
  }
  EXPECT_EQ(file->find_tensor("q4_k")->row_bytes(), 144u);
  EXPECT_EQ(file->find_tensor("q4_k")->n_rows(), 2u);
  EXPECT_EQ(file->find_tensor("q8_0")->shape_string(), "[32, 1, 3]");
  // A tensor with no elements: rows of 0 bytes, no division by zero.
  EXPECT_EQ(file->find_tensor("empty")->row_bytes(), 0u);
  EXPECT_EQ(file->find_tensor("empty")->n_rows(), 0u);
  EXPECT_EQ(file->find_tensor("nope"), nullptr);
  EXPECT_EQ(file->tensor_data_bytes(), 48u + 10 + 32 + 72 + 102 + 288 + 210 + 136 + 0 + 3);
}

TEST(GgufRoundTrip, AlignmentOtherThan32) {
  for (uint32_t alignment : {1u, 8u, 64u, 4096u}) {
    SCOPED_TRACE(alignment);
    Writer w(alignment);
    EXPECT_EQ(w.alignment(), alignment);
    const int64_t a[] = {3};
    const int64_t b[] = {5};
    ASSERT_TRUE(w.add_tensor("a", TensorType::kF32, a).ok());
    ASSERT_TRUE(w.add_tensor("b", TensorType::kF16, b).ok());
    const auto bytes = write_with_pattern(w);
    auto file = parse(bytes);
    ASSERT_TRUE(file) << file.error().message();
    EXPECT_EQ(file->alignment(), alignment);
    EXPECT_EQ(*file->get_u32("general.alignment"), alignment);
    EXPECT_EQ(file->data_offset() % alignment, 0u);
    EXPECT_EQ(file->tensors()[1].offset, (12 + alignment - 1) / alignment * alignment);
    EXPECT_EQ(file->tensors()[1].bytes()[0], pattern(10, 1)[0]);
  }
  // The default alignment writes no key at all.
  Writer w;
  EXPECT_FALSE(w.has("general.alignment"));
}

TEST(GgufRoundTrip, AlignmentFollowsTheKey) {
  // Setting general.alignment after construction (e.g. copying metadata from another file) must
  // move the tensors too, or the file would lie about its own layout.
  Writer w;
  w.set_u32("general.alignment", 16);
  const int64_t shape[] = {1};
  ASSERT_TRUE(w.add_tensor("a", TensorType::kF32, shape).ok());
  ASSERT_TRUE(w.add_tensor("b", TensorType::kF32, shape).ok());
  const auto bytes = write_with_pattern(w);
  auto file = parse(bytes);
  ASSERT_TRUE(file) << file.error().message();
  EXPECT_EQ(file->alignment(), 16u);
  EXPECT_EQ(file->tensors()[1].offset, 16u);
  w.remove("general.alignment");
  EXPECT_EQ(w.alignment(), 32u);
}

TEST(GgufRoundTrip, Version2ReadsLikeVersion3) {
  auto bytes = testing::small_valid_file();
  bytes[4] = 2;
  auto file = parse(bytes);
  ASSERT_TRUE(file) << file.error().message();
  EXPECT_EQ(file->version(), 2u);
  EXPECT_EQ(file->tensors().size(), 3u);
}

TEST(GgufRoundTrip, CopyingAFileReproducesItsBytes) {
  const auto original = testing::small_valid_file();
  auto file = parse(original);
  ASSERT_TRUE(file) << file.error().message();
  Writer copy;
  for (const auto& kv : file->metadata()) ASSERT_TRUE(copy.set_value(kv.key, kv.value).ok());
  std::vector<std::span<const uint8_t>> data;
  for (const auto& t : file->tensors()) {
    ASSERT_TRUE(copy.add_tensor(t.name, t.type, t.shape).ok());
    data.push_back(t.bytes());
  }
  auto bytes = copy.write_bytes(data);
  ASSERT_TRUE(bytes) << bytes.error().message();
  EXPECT_EQ(*bytes, original);
}

TEST(GgufRoundTrip, ReplacingAKeyKeepsItsPlace) {
  Writer w;
  w.set_u32("a", 1);
  w.set_u32("b", 2);
  w.set_string("a", "now a string");
  w.remove("missing");
  EXPECT_EQ(w.key_count(), 2u);
  const auto bytes = write_with_pattern(w);
  auto file = parse(bytes);
  ASSERT_TRUE(file);
  EXPECT_EQ(file->metadata()[0].key, "a");
  EXPECT_EQ(*file->get_string("a"), "now a string");
  w.remove("a");
  EXPECT_FALSE(w.has("a"));
  EXPECT_TRUE(w.has("b"));
}

// ---- typed getters ---------------------------------------------------------------------------

class GgufGetters : public ::testing::Test {
 protected:
  void SetUp() override {
    Writer w;
    w.set_string("llama.block_count", "twelve");
    w.set_u32("u32", 7);
    w.set_u8("u8", 200);
    w.set_i16("i16", -5);
    w.set_u64("big", std::numeric_limits<uint64_t>::max());
    w.set_f64("f64", 2.5);
    w.set_bool("flag", true);
    const int32_t ints[] = {1, 2};
    const uint64_t bigs[] = {1, std::numeric_limits<uint64_t>::max()};
    const std::vector<std::string> strs = {"x"};
    w.set_array<int32_t>("ints", ints);
    w.set_array<uint64_t>("bigs", bigs);
    w.set_string_array("strs", strs);
    bytes_ = write_with_pattern(w);
    auto file = parse(bytes_);
    ASSERT_TRUE(file) << file.error().message();
    file_ = std::move(*file);
  }

  template <typename T>
  static std::string error_of(const Expected<T>& result) {
    return result ? std::string("(no error)") : result.error().message();
  }

  std::vector<uint8_t> bytes_;
  File file_;
};

TEST_F(GgufGetters, WrongTypeNamesKeyExpectedAndFound) {
  EXPECT_EQ(error_of(file_.get_u32("llama.block_count")),
            "key llama.block_count: expected uint32, found string");
  EXPECT_EQ(error_of(file_.get_string("u32")), "key u32: expected string, found uint32");
  EXPECT_EQ(error_of(file_.get_u64("u32")), "key u32: expected uint64, found uint32");
  EXPECT_EQ(error_of(file_.get_i32("u32")), "key u32: expected int32, found uint32");
  EXPECT_EQ(error_of(file_.get_i64("u32")), "key u32: expected int64, found uint32");
  EXPECT_EQ(error_of(file_.get_f32("f64")), "key f64: expected float32, found float64");
  EXPECT_EQ(error_of(file_.get_f64("u32")), "key u32: expected float64, found uint32");
  EXPECT_EQ(error_of(file_.get_bool("u8")), "key u8: expected bool, found uint8");
  EXPECT_EQ(error_of(file_.get_integer("f64")), "key f64: expected an integer, found float64");
  EXPECT_EQ(error_of(file_.get_number("flag")), "key flag: expected a number, found bool");
  EXPECT_EQ(error_of(file_.get_string_array("ints")),
            "key ints: expected array[string], found array[int32]");
  EXPECT_EQ(error_of(file_.get_array("u32", ValueType::kInt32)),
            "key u32: expected array[int32], found uint32");
  EXPECT_EQ(error_of(file_.get_f32_array("ints")),
            "key ints: expected array[float32], found array[int32]");
  EXPECT_EQ(error_of(file_.get_integer_array("strs")),
            "key strs: expected an array of integers, found array[string]");
}

TEST_F(GgufGetters, MissingKeyAndOutOfRange) {
  EXPECT_EQ(error_of(file_.get_u32("llama.context_length")),
            "key llama.context_length is missing from the file's metadata");
  EXPECT_EQ(error_of(file_.get_integer("big")),
            "key big: value 18446744073709551615 does not fit in int64");
  EXPECT_EQ(error_of(file_.get_integer_array("bigs")),
            "key bigs: element 1 = 18446744073709551615 does not fit in int64");
  // Errors of getters are invalid_argument: the caller asked for something the file lacks.
  EXPECT_EQ(file_.get_u32("nope").error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(GgufGetters, WideningGettersAndFallbacks) {
  EXPECT_EQ(*file_.get_u32("u32"), 7u);
  EXPECT_EQ(*file_.get_integer("u8"), 200);
  EXPECT_EQ(*file_.get_integer("i16"), -5);
  EXPECT_EQ(*file_.get_number("i16"), -5.0);
  EXPECT_EQ(*file_.get_number("f64"), 2.5);
  EXPECT_EQ(*file_.get_number("big"), 18446744073709551615.0);
  EXPECT_EQ(*file_.get_integer_or("absent", 42), 42);
  EXPECT_EQ(*file_.get_integer_or("u32", 42), 7);
  EXPECT_EQ(*file_.get_string_or("absent", "dflt"), "dflt");
  EXPECT_EQ(*file_.get_number_or("absent", 1.5), 1.5);
  EXPECT_TRUE(*file_.get_bool_or("absent", true));
  EXPECT_TRUE(*file_.get_bool_or("flag", false));
  // A present key of the wrong type is still an error.
  EXPECT_EQ(error_of(file_.get_integer_or("llama.block_count", 1)),
            "key llama.block_count: expected an integer, found string");
  EXPECT_EQ(error_of(file_.get_bool_or("u32", false)), "key u32: expected bool, found uint32");
}

TEST_F(GgufGetters, HostileKeyNamesStayOnOneLine) {
  EXPECT_EQ(error_of(file_.get_u32("bad\nkey")),
            "key bad\\nkey is missing from the file's metadata");
}

// ---- writer errors ---------------------------------------------------------------------------

TEST(GgufWriterErrors, BadTensors) {
  Writer w;
  const int64_t ok_shape[] = {32};
  const int64_t five_dims[] = {1, 1, 1, 1, 1};
  const int64_t negative[] = {4, -1};
  const int64_t ragged[] = {33, 2};
  const int64_t huge[] = {int64_t{1} << 40, int64_t{1} << 40};
  EXPECT_EQ(w.add_tensor("", TensorType::kF32, ok_shape).message(),
            "tensor name '' must have 1 to 63 bytes");
  EXPECT_EQ(w.add_tensor(std::string(64, 'x'), TensorType::kF32, ok_shape).message(),
            "tensor name '" + std::string(64, 'x') + "' must have 1 to 63 bytes");
  EXPECT_TRUE(w.add_tensor(std::string(63, 'x'), TensorType::kF32, ok_shape).ok());
  EXPECT_EQ(w.add_tensor("t", TensorType::kF32, std::span<const int64_t>()).message(),
            "tensor 't' has 0 dimensions (1 to 4 allowed)");
  EXPECT_EQ(w.add_tensor("t", TensorType::kF32, five_dims).message(),
            "tensor 't' has 5 dimensions (1 to 4 allowed)");
  EXPECT_EQ(w.add_tensor("t", TensorType::kF32, negative).message(),
            "tensor 't' has a negative dimension");
  EXPECT_EQ(w.add_tensor("t", TensorType::kQ4_0, ragged).message(),
            "tensor 't': rows of 33 elements are not a whole number of q4_0 blocks (32 elements "
            "each)");
  EXPECT_EQ(w.add_tensor("t", TensorType::kF32, huge).message(),
            "tensor 't': the element count overflows int64");
  ASSERT_TRUE(w.add_tensor("t", TensorType::kF32, ok_shape).ok());
  EXPECT_EQ(w.add_tensor("t", TensorType::kF32, ok_shape).message(), "tensor 't' added twice");
  EXPECT_EQ(w.tensor_count(), 2u);
}

TEST(GgufWriterErrors, BadMetadata) {
  {
    Writer w;
    w.set_u32("", 1);
    EXPECT_EQ(w.write_bytes({}).error().message(), "a metadata key is empty");
  }
  {
    Writer w(3);
    EXPECT_EQ(w.write_bytes({}).error().message(), "general.alignment 3 is not a power of two");
  }
  {
    Writer w;
    w.set_string("general.alignment", "64");
    EXPECT_EQ(w.alignment(), 0u);
    EXPECT_EQ(w.write_bytes({}).error().message(),
              "general.alignment must be a uint32, not a string");
  }
  {
    Writer w;
    EXPECT_EQ(w.set_value("k", Value::of_arrays({Value::of<uint32_t>(1)})).message(),
              "key k: an array of arrays holds a uint32");
    Value deep = Value::of_arrays({});
    for (int k = 0; k < kMaxArrayNesting; ++k) deep = Value::of_arrays({deep});
    EXPECT_EQ(w.set_value("k", deep).message(), "key k: arrays nested more than 8 deep");
    EXPECT_FALSE(w.has("k"));
  }
}

TEST(GgufWriterErrors, DataOfTheWrongSize) {
  Writer w;
  const int64_t shape[] = {4};
  ASSERT_TRUE(w.add_tensor("a", TensorType::kF32, shape).ok());
  std::vector<uint8_t> short_data(15);
  std::vector<std::span<const uint8_t>> data = {short_data};
  EXPECT_EQ(w.write_bytes(data).error().message(),
            "write_bytes: tensor 'a' needs 16 bytes, got 15");
  EXPECT_EQ(w.write_bytes({}).error().message(), "write_bytes: 0 data buffers for 1 tensors");
  const std::string dir = lathe::testing::make_temp_dir("gguf");
  EXPECT_EQ(w.write_file(dir + "/x.gguf", data).message(),
            "write_file: tensor 'a' needs 16 bytes, got 15");
}

}  // namespace
}  // namespace lathe::gguf
