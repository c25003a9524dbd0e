#include <gtest/gtest.h>

#include "core/status.h"
#include "core/tensor_type.h"

namespace lathe {
namespace {

Expected<int> parse_positive(int v) {
  if (v <= 0) return invalid_argument("value ", v, " is not positive");
  return v;
}

Status doubled(int v, int* out) {
  LATHE_ASSIGN_OR_RETURN(int x, parse_positive(v));
  *out = 2 * x;
  return Status();
}

TEST(Status, OkAndErrorCarryCodeAndMessage) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  Status err = format_error("tensor '", "x", "' is truncated at offset ", 42);
  EXPECT_FALSE(err.ok());
  EXPECT_EQ(err.code(), ErrorCode::kFormat);
  EXPECT_EQ(err.message(), "tensor 'x' is truncated at offset 42");
  EXPECT_EQ(err.with_context("model.gguf").message(), "model.gguf: tensor 'x' is truncated at offset 42");
}

TEST(Expected, PropagatesThroughMacros) {
  int out = 0;
  EXPECT_TRUE(doubled(21, &out).ok());
  EXPECT_EQ(out, 42);
  Status err = doubled(-1, &out);
  EXPECT_EQ(err.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(err.message(), "value -1 is not positive");
}

TEST(Expected, OkStatusBecomesInternalError) {
  Expected<int> e{Status()};
  EXPECT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code(), ErrorCode::kInternal);
}

TEST(TensorType, GeometryMatchesGgml) {
  EXPECT_EQ(tensor_type_info(TensorType::kQ4_0).block_bytes, 18u);
  EXPECT_EQ(tensor_type_info(TensorType::kQ4_K).block_bytes, 144u);
  EXPECT_EQ(tensor_type_info(TensorType::kQ6_K).block_bytes, 210u);
  EXPECT_EQ(tensor_type_info(TensorType::kIQ4_XS).block_bytes, 136u);
  EXPECT_EQ(tensor_type_info(TensorType::kQ8_K).block_bytes, 292u);
  EXPECT_FALSE(tensor_type_info(4u).has_value());    // removed Q4_2
  EXPECT_FALSE(tensor_type_info(31u).has_value());   // removed Q4_0_4_4
  EXPECT_FALSE(tensor_type_info(1000u).has_value());
  auto q = parse_tensor_type("IQ4_XS");
  ASSERT_TRUE(q);
  EXPECT_EQ(*q, TensorType::kIQ4_XS);
  EXPECT_FALSE(parse_tensor_type("q3_xs"));
  auto bytes = tensor_row_bytes(TensorType::kQ8_0, 4096);
  ASSERT_TRUE(bytes);
  EXPECT_EQ(*bytes, 4096u / 32 * 34);
  EXPECT_FALSE(tensor_row_bytes(TensorType::kQ4_K, 100));
}

}  // namespace
}  // namespace lathe
