// Importers: llama2.c tokenizer.bin and Hugging Face tokenizer.json into GGUF vocabulary
// metadata, compared with what llama.cpp's converters wrote.
#include <gtest/gtest.h>

#include "gguf/gguf_writer.h"
#include "tokenizer/import.h"
#include "tokenizer/test_util.h"

namespace lathe::tokenizer {
namespace {

// Writes the spec through gguf::Writer and reads it back, as the converter's output would be.
Expected<gguf::File> round_trip(const VocabSpec& spec) {
  gguf::Writer w;
  write_vocab_metadata(spec, w);
  LATHE_ASSIGN_OR_RETURN(auto bytes, w.write_bytes({}));
  return gguf::File::parse(MappedFile::from_bytes(bytes));
}

// Every tokenizer.ggml.* key llama.cpp's conversion has must be present with the same value,
// except those named in `skip`.
void expect_same_vocab(const gguf::File& ours, const gguf::File& theirs,
                       const std::vector<std::string>& skip) {
  auto tokens = ours.get_string_array("tokenizer.ggml.tokens");
  auto want_tokens = theirs.get_string_array("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.has_value() && want_tokens.has_value());
  EXPECT_EQ(*tokens, *want_tokens);
  auto scores = ours.get_f32_array("tokenizer.ggml.scores");
  auto want_scores = theirs.get_f32_array("tokenizer.ggml.scores");
  ASSERT_TRUE(scores.has_value() && want_scores.has_value());
  EXPECT_EQ(*scores, *want_scores);
  auto types = ours.get_integer_array("tokenizer.ggml.token_type");
  auto want_types = theirs.get_integer_array("tokenizer.ggml.token_type");
  ASSERT_TRUE(types.has_value() && want_types.has_value());
  EXPECT_EQ(*types, *want_types);
  for (const auto& kv : theirs.metadata()) {
    if (kv.key.rfind("tokenizer.", 0) != 0) continue;
    if (std::find(skip.begin(), skip.end(), kv.key) != skip.end()) continue;
    if (kv.value.type() == gguf::ValueType::kArray) continue;  // compared above
    const gguf::Value* mine = ours.find(kv.key);
    ASSERT_NE(mine, nullptr) << kv.key;
    EXPECT_EQ(mine->to_display_string(), kv.value.to_display_string()) << kv.key;
  }
}

TEST(Import, Llama2cTok512MatchesLlamaCppConversion) {
  LATHE_SHARED_FIXTURE_OR_SKIP(bin, "real/stories260K/tok512.bin");
  LATHE_SHARED_FIXTURE_OR_SKIP(gguf_path, "real/stories260K/stories260K.gguf");
  auto spec = vocab_from_llama2c_file(bin, 512);
  ASSERT_TRUE(spec.has_value()) << spec.error().to_string();
  auto ours = round_trip(*spec);
  ASSERT_TRUE(ours.has_value()) << ours.error().to_string();
  auto theirs = gguf::File::open(gguf_path);
  ASSERT_TRUE(theirs.has_value());
  // llama.cpp's converter also writes the separator and padding ids as LLAMA_TOKEN_NULL cast to
  // uint32 (4294967295); its own loader rejects those values with a warning, so lathe omits them.
  expect_same_vocab(*ours, *theirs,
                    {"tokenizer.ggml.seperator_token_id", "tokenizer.ggml.padding_token_id"});
  // And both tokenize alike.
  auto a = Tokenizer::from_gguf(*ours, testing::quiet_logger());
  auto b = Tokenizer::from_gguf(*theirs, testing::quiet_logger());
  ASSERT_TRUE(a.has_value() && b.has_value());
  const std::string story = "Once upon a time, there was a little girl named Lily. 🦙!";
  EXPECT_EQ(a->encode(story, true, false), b->encode(story, true, false));
}

TEST(Import, Llama2TokenizerBinMatchesLlamaSpmVocab) {
  LATHE_SHARED_FIXTURE_OR_SKIP(bin, "real/llama2-tokenizer/tokenizer.bin");
  const auto vocab_path = testing::vocab_fixture("ggml-vocab-llama-spm.gguf");
  ASSERT_TRUE(vocab_path.has_value());
  auto spec = vocab_from_llama2c_file(bin, 32000);
  ASSERT_TRUE(spec.has_value()) << spec.error().to_string();
  auto ours = round_trip(*spec);
  ASSERT_TRUE(ours.has_value());
  auto theirs = gguf::File::open(*vocab_path);
  ASSERT_TRUE(theirs.has_value());
  // Same tokens, scores and types. The GGUF (made by convert_hf_to_gguf.py from tokenizer.model)
  // also records tokenizer.ggml.pre and add_bos/add_eos, which tokenizer.bin has no field for;
  // llama.cpp's defaults for SPM give the same values.
  expect_same_vocab(
      *ours, *theirs,
      {"tokenizer.ggml.pre", "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token"});
  auto a = Tokenizer::from_gguf(*ours, testing::quiet_logger());
  auto b = Tokenizer::from_gguf(*theirs, testing::quiet_logger());
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_EQ(a->add_bos(), b->add_bos());
  const std::string text = "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～";
  EXPECT_EQ(a->encode(text, true, false), b->encode(text, true, false));
}

TEST(Import, Llama2cRejectsTruncatedFiles) {
  const std::vector<uint8_t> bytes = {4, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 'a', 'b'};
  auto spec = vocab_from_llama2c(bytes, 1);
  ASSERT_FALSE(spec.has_value());
  EXPECT_NE(spec.error().message().find("claims 10 bytes"), std::string::npos);
  EXPECT_FALSE(vocab_from_llama2c(std::vector<uint8_t>{1, 2}, 0).has_value());
}

TEST(Import, HfByteFallbackBpeBecomesLlamaVocab) {
  LATHE_SHARED_FIXTURE_OR_SKIP(json_path, "real/TinyStories-656K/tokenizer.json");
  const std::string dir = json_path.substr(0, json_path.rfind('/'));
  auto files = read_hf_tokenizer_dir(dir);
  ASSERT_TRUE(files.has_value()) << files.error().to_string();
  auto spec = vocab_from_hf(*files, {}, testing::quiet_logger());
  ASSERT_TRUE(spec.has_value()) << spec.error().to_string();
  EXPECT_EQ(spec->model, "llama");
  ASSERT_EQ(spec->tokens.size(), 2048u);
  EXPECT_EQ(spec->tokens[0], "<unk>");
  EXPECT_EQ(spec->tokens[1], "<|start_story|>");
  EXPECT_EQ(spec->types[0], static_cast<int32_t>(TokenType::kControl));
  EXPECT_EQ(spec->types[1], static_cast<int32_t>(TokenType::kControl));
  EXPECT_EQ(spec->types[3], static_cast<int32_t>(TokenType::kNormal));
  for (float s : spec->scores) ASSERT_EQ(s, -1000.0f);  // LlamaHfVocab's placeholder score
  EXPECT_EQ(spec->bos.value, 1);
  EXPECT_EQ(spec->eos.value, 2);
  EXPECT_EQ(spec->unk.value, 0);
  EXPECT_EQ(spec->pad.value, 0);
  EXPECT_EQ(spec->add_bos, 1);
  EXPECT_EQ(spec->add_eos, 0);

  auto file = round_trip(*spec);
  ASSERT_TRUE(file.has_value());
  auto tok = Tokenizer::from_gguf(*file, testing::quiet_logger());
  ASSERT_TRUE(tok.has_value()) << tok.error().to_string();
  const std::string story = "Once upon a time, there was a little girl named Lily.";
  const auto ids = tok->encode(story, true, false);
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(tok->decode(ids), " " + story);  // BOS first: llama.cpp keeps the SPM space
  DecodeOptions remove;
  remove.remove_special = true;
  EXPECT_EQ(tok->decode(ids, remove), " " + story);
  EXPECT_EQ(tok->decode(std::span(ids).subspan(1)), story);
}

TEST(Import, HfByteLevelBpeBecomesGpt2Vocab) {
  HfTokenizerFiles files;
  files.tokenizer_json = R"({
    "added_tokens": [
      {"id": 5, "content": "<|endoftext|>", "special": true, "normalized": false},
      {"id": 6, "content": "<tool>", "special": false, "normalized": false}
    ],
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
      {"type": "Digits", "individual_digits": true},
      {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}]},
    "post_processor": {"type": "ByteLevel"},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "byte_fallback": false,
              "vocab": {"a": 0, "b": 1, "ab": 2, "\u0120": 3, "\u0120ab": 4},
              "merges": [["a", "b"], ["\u0120", "ab"]]}
  })";
  files.tokenizer_config_json = R"({"clean_up_tokenization_spaces": false,
    "eos_token": "<|endoftext|>", "bos_token": "<|endoftext|>", "chat_template": "{{ x }}"})";
  files.config_json = R"({"vocab_size": 9})";
  auto spec = vocab_from_hf(files, {}, testing::quiet_logger());
  ASSERT_TRUE(spec.has_value()) << spec.error().to_string();
  EXPECT_EQ(spec->model, "gpt2");
  EXPECT_EQ(spec->pre, "smollm");
  ASSERT_EQ(spec->tokens.size(), 9u);
  EXPECT_EQ(spec->tokens[7], "[PAD7]");
  EXPECT_EQ(spec->types[7], static_cast<int32_t>(TokenType::kUnused));
  EXPECT_EQ(spec->types[5], static_cast<int32_t>(TokenType::kControl));
  EXPECT_EQ(spec->types[6], static_cast<int32_t>(TokenType::kUserDefined));
  EXPECT_EQ(spec->merges, (std::vector<std::string>{"a b", "\xC4\xA0 ab"}));
  EXPECT_EQ(spec->eos.value, 5);
  EXPECT_EQ(spec->add_bos, 0);
  EXPECT_EQ(spec->chat_template, "{{ x }}");
  auto file = round_trip(*spec);
  ASSERT_TRUE(file.has_value());
  auto tok = Tokenizer::from_gguf(*file, testing::quiet_logger());
  ASSERT_TRUE(tok.has_value()) << tok.error().to_string();
  EXPECT_EQ(tok->vocab().pre_type(), PreTokenizerType::kStarcoder);
  EXPECT_EQ(tok->encode("ab ab<tool>", false, false), (std::vector<TokenId>{2, 4, 6}));
  EXPECT_TRUE(tok->is_eog(5));

  // An unknown pre-tokenizer needs an explicit name.
  files.tokenizer_json.replace(files.tokenizer_json.find("Digits"), 6, "Punctuation");
  EXPECT_FALSE(vocab_from_hf(files, {}, testing::quiet_logger()).has_value());
  HfImportOptions named;
  named.pre = "gpt-2";
  auto forced = vocab_from_hf(files, named, testing::quiet_logger());
  ASSERT_TRUE(forced.has_value());
  EXPECT_EQ(forced->pre, "gpt-2");
}

TEST(Import, HfRejectsMalformedJson) {
  HfTokenizerFiles files;
  files.tokenizer_json = "{not json";
  EXPECT_FALSE(vocab_from_hf(files, {}, testing::quiet_logger()).has_value());
  files.tokenizer_json = R"({"model": {"type": "Unigram", "vocab": []}})";
  auto u = vocab_from_hf(files, {}, testing::quiet_logger());
  ASSERT_FALSE(u.has_value());
  EXPECT_EQ(u.error().code(), ErrorCode::kUnsupported);
  files.tokenizer_json = R"({"model": {"type": "BPE", "vocab": {"a": "x"}}})";
  EXPECT_FALSE(vocab_from_hf(files, {}, testing::quiet_logger()).has_value());
  files.tokenizer_json = R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": 5}})";
  EXPECT_FALSE(vocab_from_hf(files, {}, testing::quiet_logger()).has_value());
}

}  // namespace
}  // namespace lathe::tokenizer
