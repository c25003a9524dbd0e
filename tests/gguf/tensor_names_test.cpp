// The table of GGUF tensor names: every role has a stem, names round-trip, and names outside the
// table are not mistaken for one in it.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "gguf/tensor_names.h"

namespace lathe::gguf {
namespace {

constexpr TensorRole kAllRoles[] = {
    TensorRole::kTokenEmbd,    TensorRole::kOutputNorm, TensorRole::kOutput,
    TensorRole::kRopeFreqs,    TensorRole::kAttnNorm,   TensorRole::kAttnQ,
    TensorRole::kAttnK,        TensorRole::kAttnV,      TensorRole::kAttnQkv,
    TensorRole::kAttnOutput,   TensorRole::kAttnQNorm,  TensorRole::kAttnKNorm,
    TensorRole::kAttnPostNorm, TensorRole::kFfnNorm,    TensorRole::kFfnGate,
    TensorRole::kFfnUp,        TensorRole::kFfnDown,    TensorRole::kFfnPostNorm,
};

TEST(TensorNames, LlamaCppSpellings) {
  EXPECT_EQ(tensor_name(TensorRole::kTokenEmbd), "token_embd.weight");
  EXPECT_EQ(tensor_name(TensorRole::kOutput), "output.weight");
  EXPECT_EQ(tensor_name(TensorRole::kAttnQ, 3), "blk.3.attn_q.weight");
  EXPECT_EQ(tensor_name(TensorRole::kAttnV, 12, "bias"), "blk.12.attn_v.bias");
  EXPECT_EQ(tensor_name(TensorRole::kAttnPostNorm, 0), "blk.0.post_attention_norm.weight");
  EXPECT_EQ(tensor_name(TensorRole::kFfnPostNorm, 1), "blk.1.post_ffw_norm.weight");
  EXPECT_EQ(tensor_name(TensorRole::kAttnQkv, 2), "blk.2.attn_qkv.weight");
}

TEST(TensorNames, EveryRoleRoundTrips) {
  std::set<std::string> stems;
  for (TensorRole role : kAllRoles) {
    EXPECT_TRUE(stems.insert(std::string(tensor_stem(role))).second) << tensor_stem(role);
    for (const char* suffix : {"weight", "bias"}) {
      const std::string name = tensor_name(role, 7, suffix);
      const auto parsed = parse_tensor_name(name);
      ASSERT_TRUE(parsed) << name;
      EXPECT_EQ(parsed->role, role) << name;
      EXPECT_EQ(parsed->layer, is_layer_tensor(role) ? 7 : -1) << name;
      EXPECT_EQ(parsed->suffix, suffix) << name;
    }
  }
}

TEST(TensorNames, ForeignNamesAreNotRecognized) {
  for (const char* name :
       {"", "blk.", "blk..attn_q.weight", "blk.x.attn_q.weight", "blk.-1.attn_q.weight",
        "blk.3.attn_z.weight", "attn_q.weight", "blk.3.token_embd.weight", "token_embd_x.weight",
        "blk.99999999999999999999.attn_q.weight"}) {
    EXPECT_FALSE(parse_tensor_name(name)) << name;
  }
}

}  // namespace
}  // namespace lathe::gguf
