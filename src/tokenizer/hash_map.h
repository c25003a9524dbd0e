// Two small open-addressing hash tables for the tokenizer's hot paths: text -> token id (looked
// up for every candidate merge in SPM) and (left id, right id) -> merge (looked up for every
// adjacent pair in BPE). Both are filled once when a vocabulary loads and only read afterwards,
// so lookups are lock-free and allocation-free.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace lathe::tokenizer {

inline uint64_t hash_bytes(const char* data, size_t size) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (size * 0xC2B2AE3D27D4EB4Full);
  while (size >= 8) {
    uint64_t v;
    std::memcpy(&v, data, 8);
    h = (h ^ v) * 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
    data += 8;
    size -= 8;
  }
  uint64_t v = 0;
  if (size > 0) std::memcpy(&v, data, size);
  h = (h ^ v) * 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 29;
  h *= 0x9E3779B97F4A7C15ull;
  return h ^ (h >> 32);
}

// Maps strings to int32 values. Keys are views: the caller keeps their bytes alive and in place
// for the table's lifetime (the vocabulary's text arena does).
class StringIdMap {
 public:
  static constexpr int32_t kAbsent = -1;

  void reserve(size_t count) {
    size_t capacity = 16;
    while (capacity < count * 2) capacity *= 2;
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    size_ = 0;
  }

  // Inserts key -> value unless the key is present; returns whether it was inserted.
  bool insert(std::string_view key, int32_t value) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    const uint64_t h = hash_bytes(key.data(), key.size());
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.value == kAbsent) {
        s = Slot{h, key.data(), static_cast<uint32_t>(key.size()), value};
        ++size_;
        return true;
      }
      if (s.hash == h && s.size == key.size() && std::memcmp(s.data, key.data(), key.size()) == 0) {
        return false;
      }
    }
  }

  int32_t find(std::string_view key) const {
    if (slots_.empty()) return kAbsent;
    const uint64_t h = hash_bytes(key.data(), key.size());
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.value == kAbsent) return kAbsent;
      if (s.hash == h && s.size == key.size() && std::memcmp(s.data, key.data(), key.size()) == 0) {
        return s.value;
      }
    }
  }

  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t hash = 0;
    const char* data = nullptr;
    uint32_t size = 0;
    int32_t value = kAbsent;
  };

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    reserve(old.empty() ? 16 : old.size());
    for (const Slot& s : old) {
      if (s.value != kAbsent) insert(std::string_view(s.data, s.size), s.value);
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

// Maps a pair of non-negative int32 ids to a BPE merge: its rank (position in the merge list) and
// the id of the merged symbol.
class PairMergeMap {
 public:
  struct Merge {
    int32_t rank = -1;
    int32_t result = -1;
  };

  void reserve(size_t count) {
    size_t capacity = 16;
    while (capacity < count * 2) capacity *= 2;
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    size_ = 0;
  }

  // Keeps the first merge for a pair, as llama.cpp does for duplicated merge lines.
  bool insert(int32_t left, int32_t right, Merge merge) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    const uint64_t key = make_key(left, right);
    for (size_t i = mix(key) & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.key == kEmpty) {
        s = Slot{key, merge};
        ++size_;
        return true;
      }
      if (s.key == key) return false;
    }
  }

  // The merge of (left, right), or rank -1 when the pair does not merge.
  Merge find(int32_t left, int32_t right) const {
    if (slots_.empty() || left < 0 || right < 0) return {};
    const uint64_t key = make_key(left, right);
    for (size_t i = mix(key) & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) return s.merge;
      if (s.key == kEmpty) return {};
    }
  }

  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~0ull;
  struct Slot {
    uint64_t key = kEmpty;
    Merge merge;
  };

  static uint64_t make_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  static uint64_t mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xFF51AFD7ED558CCDull;
    k ^= k >> 33;
    return k;
  }

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    reserve(old.empty() ? 16 : old.size());
    for (const Slot& s : old) {
      if (s.key != kEmpty) {
        insert(static_cast<int32_t>(s.key >> 32), static_cast<int32_t>(s.key & 0xFFFFFFFFu),
               s.merge);
      }
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace lathe::tokenizer
