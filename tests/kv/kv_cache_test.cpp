#include <gtest/gtest.h>

#include "backend/cpu/cpu_backend.h"
#include "kv/kv_cache.h"

namespace lathe::kv {
namespace {

model::HParams small_hparams() {
  model::HParams hp;
  hp.n_layer = 2;
  hp.n_embd = 64;
  hp.n_head = 2;
  hp.n_head_kv = 1;
  hp.head_dim_k = hp.head_dim_v = 32;
  return hp;
}

SeqSet seqs_of(std::initializer_list<int> ids) {
  SeqSet s;
  for (int id : ids) s.set(static_cast<size_t>(id));
  return s;
}

class KvCacheTest : public ::testing::Test {
 protected:
  KvCache make(int64_t cells, TensorType type = TensorType::kF16) {
    KvCacheOptions o;
    o.n_cells = cells;
    o.type_k = o.type_v = type;
    auto cache = KvCache::create(small_hparams(), o, backend_);
    EXPECT_TRUE(cache) << cache.error().message();
    return std::move(cache).value();
  }
  // Claims positions [p0, p1) of one sequence.
  Status claim_run(KvCache& cache, int seq, int p0, int p1) {
    std::vector<int32_t> pos;
    std::vector<SeqSet> seqs;
    for (int p = p0; p < p1; ++p) {
      pos.push_back(p);
      seqs.push_back(seqs_of({seq}));
    }
    std::vector<int32_t> cells;
    return cache.claim(pos, seqs, cells);
  }
  backend::CpuBackend backend_{backend::CpuBackendOptions{1}};
};

TEST_F(KvCacheTest, ClaimsTracksPositionsAndRefusesWhenFull) {
  KvCache cache = make(8);
  ASSERT_TRUE(claim_run(cache, 0, 0, 5).ok());
  EXPECT_EQ(cache.used(), 5);
  EXPECT_EQ(cache.seq_pos_max(0), 4);
  EXPECT_EQ(cache.seq_pos_min(0), 0);
  EXPECT_EQ(cache.seq_pos_max(1), -1);
  Status full = claim_run(cache, 1, 0, 4);
  EXPECT_EQ(full.code(), ErrorCode::kOutOfRange);
  EXPECT_NE(full.message().find("context is full"), std::string::npos);
  EXPECT_EQ(cache.used(), 5) << "a refused claim changes nothing";
}

TEST_F(KvCacheTest, PositionsMustMoveForward) {
  KvCache cache = make(16);
  ASSERT_TRUE(claim_run(cache, 0, 0, 4).ok());
  Status again = claim_run(cache, 0, 3, 5);
  EXPECT_EQ(again.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(cache.used(), 4);
  // After removing the tail, the positions can be decoded again (speculative rollback).
  cache.seq_rm(0, 2, -1);
  EXPECT_EQ(cache.used(), 2);
  EXPECT_EQ(cache.seq_pos_max(0), 1);
  EXPECT_TRUE(claim_run(cache, 0, 2, 6).ok());
  EXPECT_EQ(cache.seq_pos_max(0), 5);
}

TEST_F(KvCacheTest, SharedPrefixIsStoredOnceAndVisibleToBoth) {
  KvCache cache = make(16);
  ASSERT_TRUE(claim_run(cache, 0, 0, 4).ok());
  cache.seq_cp(0, 1, 0, -1);
  EXPECT_EQ(cache.used(), 4);
  EXPECT_EQ(cache.seq_pos_max(1), 3);
  ASSERT_TRUE(claim_run(cache, 1, 4, 6).ok());
  ASSERT_TRUE(claim_run(cache, 0, 4, 5).ok());
  std::vector<ops::CellRange> ranges;
  cache.visible_ranges(1, 5, ranges);
  int visible = 0;
  for (auto r : ranges) visible += r.end - r.begin;
  EXPECT_EQ(visible, 6);  // 4 shared + 2 own, not seq 0's position 4
  ranges.clear();
  cache.visible_ranges(0, 4, ranges);
  visible = 0;
  for (auto r : ranges) visible += r.end - r.begin;
  EXPECT_EQ(visible, 5);
  // Removing seq 0 keeps the shared cells alive for seq 1.
  cache.seq_rm(0, 0, -1);
  EXPECT_EQ(cache.used(), 6);
  EXPECT_EQ(cache.seq_pos_max(0), -1);
  EXPECT_EQ(cache.seq_pos_max(1), 5);
  cache.seq_keep(2);
  EXPECT_EQ(cache.used(), 0);
}

TEST_F(KvCacheTest, VisibilityRespectsPositionAndCausality) {
  KvCache cache = make(16);
  ASSERT_TRUE(claim_run(cache, 0, 0, 8).ok());
  std::vector<ops::CellRange> ranges;
  cache.visible_ranges(0, 3, ranges);
  ASSERT_EQ(ranges.size(), 1u);
  EXPECT_EQ(ranges[0].end - ranges[0].begin, 4);
}

TEST_F(KvCacheTest, FreedCellsAreReused) {
  KvCache cache = make(6);
  ASSERT_TRUE(claim_run(cache, 0, 0, 6).ok());
  cache.seq_rm(0, 0, 3);
  EXPECT_EQ(cache.used(), 3);
  EXPECT_TRUE(claim_run(cache, 1, 0, 3).ok());
  EXPECT_EQ(cache.used(), 6);
  cache.clear();
  EXPECT_EQ(cache.used(), 0);
  EXPECT_EQ(cache.extent(), 0);
}

TEST_F(KvCacheTest, QuantizedTypesNeedWholeBlocksPerHead) {
  KvCacheOptions o;
  o.n_cells = 4;
  o.type_k = o.type_v = TensorType::kQ8_0;
  auto hp = small_hparams();
  EXPECT_TRUE(KvCache::create(hp, o, backend_));
  hp.head_dim_k = hp.head_dim_v = 8;
  hp.n_embd = 16;
  auto bad = KvCache::create(hp, o, backend_);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("-ctk"), std::string::npos);
  EXPECT_TRUE(parse_kv_type("q4_0"));
  EXPECT_FALSE(parse_kv_type("q4_k"));
}

}  // namespace
}  // namespace lathe::kv
