// Truncated, corrupt and hostile files: each must give one clear error that names what is wrong
// and where, never a crash, a hang or a huge allocation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include <limits>

#include "gguf/gguf.h"
#include "gguf_test_util.h"
#include "support/fixtures.h"

namespace lathe::gguf {
namespace {

using testing::Bytes;
using ::testing::HasSubstr;
using testing::parse;
using testing::parse_error;

constexpr uint32_t kF32 = 0;
constexpr uint32_t kQ4_0 = 2;

bool one_line(const std::string& message) {
  return !message.empty() && message.find('\n') == std::string::npos;
}

TEST(GgufHostile, TruncationAtEveryByte) {
  const auto full = testing::small_valid_file();
  ASSERT_TRUE(parse(full)) << parse(full).error().message();
  for (size_t size = 0; size < full.size(); ++size) {
    // An exact-size copy, so a sanitizer build sees any read past the end.
    const std::vector<uint8_t> prefix(full.begin(), full.begin() + size);
    auto file = parse(prefix);
    ASSERT_FALSE(file) << "a prefix of " << size << " bytes parsed";
    const std::string& message = file.error().message();
    EXPECT_TRUE(one_line(message)) << message;
    EXPECT_EQ(file.error().code(), ErrorCode::kFormat);
    // Every message says the file ended early, in one of three ways.
    EXPECT_TRUE(message.find("truncated file") != std::string::npos ||
                message.find("cannot fit") != std::string::npos ||
                message.find("more than the") != std::string::npos)
        << size << ": " << message;
  }
}

TEST(GgufHostile, TruncationMessagesNameTheField) {
  const auto full = testing::small_valid_file();
  const std::vector<uint8_t> header_only(full.begin(), full.begin() + 10);
  EXPECT_EQ(parse_error(header_only),
            "<memory>: truncated file: header (tensor count) needs 8 bytes at offset 0x8 but "
            "only 2 remain");
  const std::vector<uint8_t> no_data(full.begin(), full.end() - 1);
  EXPECT_THAT(parse_error(no_data), HasSubstr("tensor 'last' (f32 [8], 32 bytes at data offset"));
  EXPECT_THAT(parse_error(no_data), HasSubstr("extends past the end of the file"));
}

TEST(GgufHostile, EveryCorruptedByteIsHandled) {
  // Not a proof, but cheap: each byte set to a few nasty values must parse or fail cleanly.
  const auto full = testing::small_valid_file();
  for (size_t at = 0; at < full.size(); ++at) {
    for (uint8_t value : {uint8_t{0x00}, uint8_t{0x7f}, uint8_t{0xff}}) {
      auto bytes = full;
      bytes[at] = value;
      auto file = parse(bytes);
      if (!file) {
        EXPECT_TRUE(one_line(file.error().message())) << file.error().message();
      } else {
        for (const auto& t : file->tensors()) {
          ASSERT_GE(t.data, bytes.data());
          ASSERT_LE(t.data + t.n_bytes, bytes.data() + bytes.size());
        }
      }
    }
  }
}

TEST(GgufHostile, BadMagic) {
  Bytes b;
  b.raw(
       "\x7f"
       "ELF",
       4)
      .u32(3)
      .u64(0)
      .u64(0);
  EXPECT_EQ(parse_error(b.data),
            "<memory>: not a GGUF file: it starts with the bytes 7f 45 4c 46, not \"GGUF\" (47 47 "
            "55 46)");
  EXPECT_EQ(parse_error({}),
            "<memory>: truncated file: header (magic) needs 4 bytes at offset 0x0 but only 0 "
            "remain");
}

TEST(GgufHostile, UnsupportedVersions) {
  auto version_error = [](uint32_t version) {
    Bytes b;
    b.header(0, 0, version);
    return parse_error(b.data);
  };
  EXPECT_EQ(version_error(1),
            "<memory>: GGUF version 1 is not supported (its counts are 32-bit); re-convert the "
            "model with a current converter");
  EXPECT_EQ(version_error(4), "<memory>: GGUF version 4 is not supported (lathe reads 2 and 3)");
  EXPECT_EQ(version_error(0), "<memory>: GGUF version 0 is not supported (lathe reads 2 and 3)");
  // A big-endian file: version 3 with its bytes swapped.
  EXPECT_EQ(version_error(0x03000000),
            "<memory>: this GGUF file is big-endian (its version reads as 0x3000000); lathe reads "
            "little-endian files only");
  Bytes b;
  b.header(0, 0, 1);
  EXPECT_EQ(parse(b.data).error().code(), ErrorCode::kUnsupported);
}

TEST(GgufHostile, HugeCounts) {
  Bytes tensors;
  tensors.header(uint64_t{1} << 62, 0).zeros(64);
  EXPECT_EQ(parse_error(tensors.data),
            "<memory>: header claims 4611686018427387904 tensors, more than the 64 bytes of the "
            "file can hold");
  Bytes kv;
  kv.header(0, std::numeric_limits<uint64_t>::max()).zeros(64);
  EXPECT_EQ(parse_error(kv.data),
            "<memory>: header claims 18446744073709551615 metadata entries, more than the 64 "
            "bytes of the file can hold");
}

TEST(GgufHostile, HugeStringLength) {
  Bytes key;
  key.header(0, 1).u64(std::numeric_limits<uint64_t>::max()).zeros(16);
  EXPECT_EQ(parse_error(key.data),
            "<memory>: metadata key #0 (key length) at offset 0x18: a string of "
            "18446744073709551615 bytes cannot fit in the 16 bytes left in the file");
  Bytes value;
  value.header(0, 1).str("general.name").type(ValueType::kString).u64(uint64_t{1} << 40).zeros(8);
  EXPECT_EQ(parse_error(value.data),
            "<memory>: metadata 'general.name' (string length) at offset 0x30: a string of "
            "1099511627776 bytes cannot fit in the 8 bytes left in the file");
  Bytes name;
  name.header(1, 0).u64(uint64_t{1} << 63).zeros(40);
  EXPECT_THAT(parse_error(name.data), HasSubstr("tensor info #0 (name length) at offset 0x18"));
}

TEST(GgufHostile, HugeArrayCounts) {
  Bytes numbers;
  numbers.header(0, 1).str("a").type(ValueType::kArray).type(ValueType::kUint64);
  numbers.u64(uint64_t{1} << 61).zeros(64);
  EXPECT_EQ(parse_error(numbers.data),
            "<memory>: metadata 'a' at offset 0x25: an array of 2305843009213693952 uint64 "
            "elements cannot fit in the 64 bytes left in the file");
  Bytes strings;
  strings.header(0, 1).str("tokens").type(ValueType::kArray).type(ValueType::kString);
  strings.u64(std::numeric_limits<uint64_t>::max()).zeros(64);
  EXPECT_THAT(parse_error(strings.data),
              HasSubstr("an array of 18446744073709551615 string elements cannot fit"));
  // A string inside an array that claims too much names its index.
  Bytes element;
  element.header(0, 1).str("tokens").type(ValueType::kArray).type(ValueType::kString).u64(2);
  element.str("ok").u64(1000).zeros(8);
  EXPECT_THAT(parse_error(element.data),
              HasSubstr("metadata 'tokens'[1] (string length) at offset 0x40: a string of 1000"));
}

TEST(GgufHostile, NestedArrayLimits) {
  // Nine levels of arrays: one more than allowed.
  Bytes deep;
  deep.header(0, 1).str("deep").type(ValueType::kArray);
  for (int k = 0; k < kMaxArrayNesting; ++k) deep.type(ValueType::kArray).u64(1);
  deep.type(ValueType::kInt32).u64(0);
  EXPECT_THAT(parse_error(deep.data),
              HasSubstr("metadata 'deep'[0][0][0][0][0][0][0][0] at offset 0x88: arrays nested "
                        "more than 8 deep"));

  // Empty inner arrays cost 12 bytes in the file but a whole Value in memory: the total is
  // capped so a large hostile file cannot multiply itself in memory.
  Bytes many;
  many.header(0, 1).str("many").type(ValueType::kArray).type(ValueType::kArray);
  many.u64(kMaxNestedArrays + 1).zeros((kMaxNestedArrays + 1) * 12);
  EXPECT_THAT(parse_error(many.data),
              HasSubstr("more than 1048576 arrays nested inside arrays in one file"));
}

TEST(GgufHostile, BadValues) {
  Bytes type;
  type.header(0, 1).str("k").u32(13).zeros(8);
  EXPECT_EQ(parse_error(type.data),
            "<memory>: metadata 'k' (value type) at offset 0x21: unknown value type 13");
  Bytes element;
  element.header(0, 1).str("k").type(ValueType::kArray).u32(99).u64(0);
  EXPECT_EQ(parse_error(element.data),
            "<memory>: metadata 'k' (array element type) at offset 0x25: unknown array element "
            "type 99");
  Bytes boolean;
  boolean.header(0, 1).str("k").type(ValueType::kBool).u8(2);
  EXPECT_EQ(parse_error(boolean.data),
            "<memory>: metadata 'k' (value) at offset 0x25: bool value 2 is neither 0 nor 1");
  Bytes bools;
  bools.header(0, 1).str("k").type(ValueType::kArray).type(ValueType::kBool).u64(3);
  bools.u8(1).u8(0).u8(9);
  EXPECT_EQ(parse_error(bools.data),
            "<memory>: metadata 'k'[2] at offset 0x33: bool value 9 is neither 0 nor 1");
  Bytes empty_key;
  empty_key.header(0, 1).str("").type(ValueType::kUint8).u8(0).zeros(8);
  EXPECT_EQ(parse_error(empty_key.data),
            "<memory>: metadata key #0 at offset 0x18: the key is empty");
}

TEST(GgufHostile, DuplicateKeys) {
  Bytes b;
  b.header(0, 2)
      .str("a\nb")
      .type(ValueType::kUint8)
      .u8(1)
      .str("a\nb")
      .type(ValueType::kUint8)
      .u8(2);
  // The key is escaped: the message stays on one line.
  EXPECT_EQ(parse_error(b.data),
            "<memory>: metadata 'a\\nb' at offset 0x28: duplicate key (metadata #0 has the same "
            "key)");
}

TEST(GgufHostile, BadAlignment) {
  auto with_alignment = [](uint32_t alignment) {
    Bytes b;
    b.header(0, 1).str("general.alignment").type(ValueType::kUint32).u32(alignment);
    return parse_error(b.data);
  };
  EXPECT_EQ(with_alignment(48), "<memory>: key general.alignment: 48 is not a power of two");
  EXPECT_EQ(with_alignment(0), "<memory>: key general.alignment: 0 is not a power of two");
  Bytes str;
  str.header(0, 1).str("general.alignment").type(ValueType::kString).str("32");
  EXPECT_EQ(parse_error(str.data),
            "<memory>: key general.alignment: expected uint32, found string");
  // A huge (valid) alignment pushes the data section past the end of the file.
  Bytes huge;
  huge.header(1, 1).str("general.alignment").type(ValueType::kUint32).u32(1u << 31);
  huge.tensor("t", {1}, kF32, 0).zeros(64);
  EXPECT_THAT(parse_error(huge.data),
              HasSubstr("truncated file: the tensor data section should start at offset "
                        "0x80000000 but the file has only"));
}

// A file with one key-free header and the given tensor infos, padded, then `data_bytes` of data.
std::vector<uint8_t> with_tensors(const std::function<void(Bytes&)>& infos, size_t n_tensors,
                                  size_t data_bytes) {
  Bytes b;
  b.header(n_tensors, 0);
  infos(b);
  b.pad_to(32).zeros(data_bytes);
  return b.data;
}

TEST(GgufHostile, UnknownTensorType) {
  for (uint32_t id : {4u, 31u, 99u, 0xffffffffu}) {
    const auto bytes = with_tensors([&](Bytes& b) { b.tensor("blk.0.w", {32}, id, 0); }, 1, 64);
    EXPECT_EQ(parse_error(bytes), cat("<memory>: tensor 'blk.0.w' (type) at offset 0x33: unknown "
                                      "tensor type id ",
                                      id));
  }
}

TEST(GgufHostile, TensorOffsets) {
  const auto past_end =
      with_tensors([](Bytes& b) { b.tensor("w", {8}, kF32, uint64_t{1} << 40); }, 1, 64);
  EXPECT_EQ(parse_error(past_end),
            "<memory>: tensor 'w' (f32 [8], 32 bytes at data offset 1099511627776) extends past "
            "the end of the file: the data section at offset 0x40 holds only 64 bytes (truncated "
            "file?)");
  // An offset so large that offset + size would wrap around must not pass the check.
  const auto wrap = with_tensors(
      [](Bytes& b) { b.tensor("w", {8}, kF32, std::numeric_limits<uint64_t>::max() - 31); }, 1, 64);
  EXPECT_THAT(parse_error(wrap), HasSubstr("extends past the end of the file"));
  const auto unaligned = with_tensors([](Bytes& b) { b.tensor("w", {1}, kF32, 4); }, 1, 64);
  EXPECT_EQ(parse_error(unaligned),
            "<memory>: tensor 'w': data offset 4 is not a multiple of the alignment 32");
  const auto too_big = with_tensors([](Bytes& b) { b.tensor("w", {17}, kF32, 32); }, 1, 96);
  EXPECT_THAT(parse_error(too_big), HasSubstr("68 bytes at data offset 32) extends past the end"));
}

TEST(GgufHostile, OverlappingTensors) {
  const auto same = with_tensors(
      [](Bytes& b) {
        b.tensor("a", {16}, kF32, 0);
        b.tensor("b", {8}, kF32, 64);
        b.tensor("c", {8}, kF32, 0);
      },
      3, 128);
  EXPECT_EQ(parse_error(same),
            "<memory>: tensor 'c' (f32 [8], 32 bytes) is at data offset 0, not at 96, where 'b' "
            "ends, padded to the alignment 32: it overlaps the tensors before it (tensors lie back "
            "to back in the order of the tensor infos)");
  const auto partly = with_tensors(
      [](Bytes& b) {
        b.tensor("a", {16}, kF32, 0);
        b.tensor("b", {8}, kF32, 32);
      },
      2, 96);
  EXPECT_THAT(parse_error(partly),
              HasSubstr("tensor 'b' (f32 [8], 32 bytes) is at data offset 32, not at 64, where "
                        "'a' ends, padded to the alignment 32: it overlaps"));
}

TEST(GgufHostile, GapsBetweenTensors) {
  const auto gap = with_tensors(
      [](Bytes& b) {
        b.tensor("a", {8}, kF32, 0);
        b.tensor("b", {8}, kF32, 64);
      },
      2, 96);
  EXPECT_THAT(parse_error(gap),
              HasSubstr("tensor 'b' (f32 [8], 32 bytes) is at data offset 64, not at 32, where "
                        "'a' ends, padded to the alignment 32: it leaves a gap"));
  const auto late_start = with_tensors([](Bytes& b) { b.tensor("a", {8}, kF32, 32); }, 1, 64);
  EXPECT_THAT(parse_error(late_start),
              HasSubstr("tensor 'a' (f32 [8], 32 bytes) is at data offset 32, not at 0, the start "
                        "of the data section: it leaves a gap"));
  // Each tensor owns whole alignment units, but not more; and the file order is the data order,
  // as llama.cpp reads it, even where the tensors would tile the data section in another order.
  const auto padded = with_tensors(
      [](Bytes& b) {
        b.tensor("a", {3}, kF32, 0);
        b.tensor("b", {8}, kF32, 32);
      },
      2, 64);
  EXPECT_TRUE(parse(padded)) << parse(padded).error().message();
  const auto swapped = with_tensors(
      [](Bytes& b) {
        b.tensor("a", {8}, kF32, 32);
        b.tensor("b", {8}, kF32, 0);
      },
      2, 64);
  EXPECT_THAT(parse_error(swapped), HasSubstr("tensor 'a' (f32 [8], 32 bytes) is at data offset "
                                              "32, not at 0"));
}

TEST(GgufHostile, EmptyTensorsSitWhereThePreviousTensorEnds) {
  // An empty tensor owns no bytes, but its offset must still follow the tensors before it, or
  // the infos do not describe the data: llama.cpp refuses such a file.
  const auto out_of_place = with_tensors(
      [](Bytes& b) {
        b.tensor("a", {8}, kF32, 0);
        b.tensor("e", {4, 0}, kF32, 0);
        b.tensor("b", {8}, kF32, 32);
      },
      3, 64);
  EXPECT_EQ(parse_error(out_of_place),
            "<memory>: tensor 'e' (f32 [4, 0], 0 bytes) is at data offset 0, not at 32, where "
            "'a' ends, padded to the alignment 32: the empty tensor is out of place (tensors lie "
            "back to back in the order of the tensor infos)");
  // The tensor after it is then checked against the empty tensor's claim too.
  const auto pushed = with_tensors(
      [](Bytes& b) {
        b.tensor("a", {8}, kF32, 0);
        b.tensor("e", {0}, kF32, 32);
        b.tensor("b", {8}, kF32, 64);
      },
      3, 96);
  EXPECT_THAT(parse_error(pushed),
              HasSubstr("tensor 'b' (f32 [8], 32 bytes) is at data offset 64, not at 32"));
  // Where the offsets follow, a zero dimension is accepted, as llama.cpp accepts it.
  const auto in_place = with_tensors(
      [](Bytes& b) {
        b.tensor("a", {8}, kF32, 0);
        b.tensor("e", {4, 0}, kF32, 32);
        b.tensor("b", {8}, kF32, 32);
        b.tensor("z", {0}, kQ4_0, 64);
      },
      4, 64);
  auto file = parse(in_place);
  ASSERT_TRUE(file) << file.error().message();
  EXPECT_EQ(file->find_tensor("e")->n_bytes, 0u);
  EXPECT_EQ(file->find_tensor("e")->n_elements, 0u);
  EXPECT_EQ(file->find_tensor("b")->offset, 32u);
  EXPECT_EQ(file->find_tensor("z")->n_bytes, 0u);
}

TEST(GgufHostile, DuplicateTensorNames) {
  const auto bytes = with_tensors(
      [](Bytes& b) {
        b.tensor("w", {8}, kF32, 0);
        b.tensor("w", {8}, kF32, 32);
      },
      2, 64);
  EXPECT_EQ(parse_error(bytes),
            "<memory>: tensor 'w' at offset 0x39: duplicate tensor name (tensor #0 has the same "
            "name)");
}

TEST(GgufHostile, BadShapes) {
  const auto overflow = with_tensors(
      [](Bytes& b) {
        b.tensor("w", {uint64_t{1} << 32, uint64_t{1} << 32}, kF32, 0);
      },
      1, 32);
  EXPECT_EQ(parse_error(overflow),
            "<memory>: tensor 'w' (shape) at offset 0x2d: dimension 1 = 4294967296 makes the "
            "element count overflow int64");
  const auto negative = with_tensors(
      [](Bytes& b) { b.tensor("w", {std::numeric_limits<uint64_t>::max()}, kF32, 0); }, 1, 32);
  EXPECT_EQ(parse_error(negative),
            "<memory>: tensor 'w' (shape) at offset 0x25: dimension 0 is 18446744073709551615");
  // Elements fit in int64 but bytes do not.
  const auto bytes_overflow =
      with_tensors([](Bytes& b) { b.tensor("w", {uint64_t{1} << 62}, kF32, 0); }, 1, 32);
  EXPECT_EQ(parse_error(bytes_overflow),
            "<memory>: tensor 'w' at offset 0x18: the size in bytes of [4611686018427387904] f32 "
            "overflows");
  const auto five = with_tensors([](Bytes& b) { b.tensor("w", {1, 1, 1, 1, 1}, kF32, 0); }, 1, 32);
  EXPECT_EQ(parse_error(five),
            "<memory>: tensor 'w' (dimension count) at offset 0x21: 5 dimensions (at most 4)");
  const auto ragged = with_tensors([](Bytes& b) { b.tensor("w", {33}, kQ4_0, 0); }, 1, 64);
  EXPECT_EQ(parse_error(ragged),
            "<memory>: tensor 'w' at offset 0x18: rows of 33 elements are not a whole number of "
            "q4_0 blocks (32 elements each)");
  // No dimensions at all: ggml reads one element, and so does lathe.
  const auto scalar = with_tensors([](Bytes& b) { b.tensor("s", {}, kF32, 0); }, 1, 32);
  auto file = parse(scalar);
  ASSERT_TRUE(file) << file.error().message();
  EXPECT_EQ(file->tensors()[0].shape, std::vector<int64_t>{1});
  EXPECT_EQ(file->tensors()[0].n_bytes, 4u);
}

TEST(GgufHostile, BadTensorNames) {
  const auto empty = with_tensors([](Bytes& b) { b.tensor("", {1}, kF32, 0); }, 1, 32);
  EXPECT_EQ(parse_error(empty),
            "<memory>: tensor info #0 at offset 0x18: a tensor name of 0 bytes (1 to 4096 "
            "allowed)");
  const std::string long_name(5000, 'n');
  const auto too_long = with_tensors([&](Bytes& b) { b.tensor(long_name, {1}, kF32, 0); }, 1, 32);
  EXPECT_THAT(parse_error(too_long), HasSubstr("a tensor name of 5000 bytes"));
  // A 100-byte name is longer than llama.cpp allows, but lathe reads it.
  const auto long_ok =
      with_tensors([](Bytes& b) { b.tensor(std::string(100, 'x'), {1}, kF32, 0); }, 1, 32);
  EXPECT_TRUE(parse(long_ok));
}

TEST(GgufHostile, ErrorsFromOpenNameThePath) {
  const std::string dir = lathe::testing::make_temp_dir("gguf");
  const std::string path = dir + "/bad.gguf";
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite("GGUF\x03\x00", 1, 6, f);
    std::fclose(f);
  }
  auto file = File::open(path);
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().message(), path +
                                        ": truncated file: header (version) needs 4 bytes at "
                                        "offset 0x4 but only 2 remain");
  auto missing = File::open(dir + "/missing.gguf");
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message(), HasSubstr("missing.gguf"));
  EXPECT_EQ(missing.error().code(), ErrorCode::kIo);
}

}  // namespace
}  // namespace lathe::gguf
