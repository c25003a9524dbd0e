// Chat templates against what Jinja2 renders for the real templates (tests/fixtures/chat, made by
// scripts/gen-chat-expectations.py), plus detection, the --chat-template override, the delta that
// `lathe chat` feeds, and errors.
#include "chat/chat_template.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "chat/chat_formats.h"
#include "support/fixtures.h"

namespace lathe::chat {
namespace {

using nlohmann::json;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

const json& expectations() {
  static const json doc = json::parse(read_text(testing::fixture_path("chat/expected.json")));
  return doc;
}

std::string template_source(const std::string& file) {
  return read_text(testing::fixture_path("chat/templates/" + file));
}

std::vector<ChatMessage> to_messages(const json& list) {
  std::vector<ChatMessage> out;
  for (const json& m : list) out.push_back({m.at("role"), m.at("content")});
  return out;
}

ChatTemplate load(const json& entry) {
  ChatTemplateOptions opts;
  opts.bos_token = entry.at("bos_token");
  opts.eos_token = entry.at("eos_token");
  auto tmpl = ChatTemplate::from_jinja(template_source(entry.at("template")), opts);
  EXPECT_TRUE(tmpl.has_value()) << entry.at("template") << ": " << tmpl.error().message();
  return std::move(tmpl).value();
}

std::vector<ChatMessage> case_messages(const json& entry, const std::string& name) {
  for (const json& c : entry.at("cases")) {
    if (c.at("name") == name) return to_messages(c.at("messages"));
  }
  ADD_FAILURE() << "no case " << name;
  return {};
}

TEST(ChatFixtures, CoverEveryFormat) {
  std::set<std::string> formats;
  size_t cases = 0;
  for (const json& entry : expectations().at("rendered")) {
    formats.insert(entry.at("format"));
    cases += entry.at("cases").size();
  }
  for (std::string_view name : chat_template_names()) {
    EXPECT_TRUE(formats.count(std::string(name)))
        << name << " has no real template in the fixtures";
  }
  EXPECT_GE(cases, 100u);
}

TEST(ChatTemplate, DetectsTheFormatOfRealTemplates) {
  for (const json& entry : expectations().at("rendered")) {
    ChatTemplate tmpl = load(entry);
    EXPECT_EQ(tmpl.name(), entry.at("format").get<std::string>()) << entry.at("template");
  }
}

TEST(ChatTemplate, RendersExactlyWhatJinjaRenders) {
  for (const json& entry : expectations().at("rendered")) {
    const ChatTemplate tmpl = load(entry);
    for (const json& c : entry.at("cases")) {
      SCOPED_TRACE(entry.at("template").get<std::string>() + " / " +
                   c.at("name").get<std::string>());
      const auto messages = to_messages(c.at("messages"));
      auto got = tmpl.render(messages, c.at("add_generation_prompt"));
      if (c.contains("error")) {
        ASSERT_FALSE(got.has_value())
            << "rendered " << *got << " where Jinja raised " << c.at("error");
        EXPECT_EQ(got.error().code(), ErrorCode::kInvalidArgument);
        continue;
      }
      ASSERT_TRUE(got.has_value()) << got.error().message();
      EXPECT_EQ(*got, c.at("expected").get<std::string>());
    }
  }
}

TEST(ChatTemplate, RefusesTemplatesItCannotReproduce) {
  for (const json& entry : expectations().at("refused")) {
    auto tmpl = ChatTemplate::from_jinja(template_source(entry.at("template")), {});
    ASSERT_FALSE(tmpl.has_value()) << entry.at("template") << " detected as " << tmpl->name();
    EXPECT_EQ(tmpl.error().code(), ErrorCode::kUnsupported);
    EXPECT_NE(tmpl.error().message().find("--chat-template"), std::string::npos)
        << tmpl.error().message();
  }
}

TEST(ChatTemplate, TakesConstantsFromTheTemplate) {
  auto smol = ChatTemplate::from_jinja(template_source("smollm2-135m-instruct.jinja"), {});
  ASSERT_TRUE(smol.has_value());
  EXPECT_TRUE(smol->spec().has_default_system);
  EXPECT_EQ(smol->spec().default_system,
            "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  EXPECT_EQ(smol->describe(),
            "chatml (default system prompt \"You are a helpful AI assistant named SmolLM, trained "
            "by Hugging Face\")");

  auto qwen = ChatTemplate::from_jinja(template_source("qwen2.5-7b-instruct.jinja"), {});
  ASSERT_TRUE(qwen.has_value());
  EXPECT_EQ(qwen->spec().default_system,
            "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");

  auto hermes_like = ChatTemplate::from_jinja(
      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
      "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}",
      {});
  ASSERT_TRUE(hermes_like.has_value());
  EXPECT_FALSE(hermes_like->spec().has_default_system);

  auto llama31 = ChatTemplate::from_jinja(template_source("llama-3.1-8b-instruct.jinja"), {});
  ASSERT_TRUE(llama31.has_value());
  EXPECT_EQ(llama31->spec().date_string, "26 Jul 2024");
  EXPECT_EQ(llama31->spec().knowledge_date, "December 2023");

  auto gemma1 = ChatTemplate::from_jinja(template_source("gemma-7b-it.jinja"), {});
  ASSERT_TRUE(gemma1.has_value());
  EXPECT_FALSE(gemma1->spec().emit_bos);
  auto gemma2 = ChatTemplate::from_jinja(template_source("gemma-2-2b-it.jinja"), {});
  ASSERT_TRUE(gemma2.has_value());
  EXPECT_TRUE(gemma2->spec().emit_bos);
}

TEST(ChatTemplate, DateAndThinkingOptions) {
  ChatTemplateOptions opts;
  opts.bos_token = "<|begin_of_text|>";
  opts.date_string = "01 Jan 2025";
  auto llama = ChatTemplate::from_name("llama3.1", opts);
  ASSERT_TRUE(llama.has_value());
  const std::vector<ChatMessage> hi = {{"user", "Hi"}};
  EXPECT_EQ(*llama->render(hi, true),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
            "Cutting Knowledge Date: December 2023\nToday Date: 01 Jan 2025\n\n<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");

  ChatTemplateOptions no_think;
  no_think.enable_thinking = false;
  auto qwen3 = ChatTemplate::from_jinja(template_source("qwen3-0.6b.jinja"), no_think);
  ASSERT_TRUE(qwen3.has_value());
  EXPECT_EQ(*qwen3->render(hi, true),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
}

TEST(ChatTemplate, NamesRoundTrip) {
  std::vector<std::string> names;
  for (std::string_view name : chat_template_names()) {
    names.emplace_back(name);
    auto tmpl = ChatTemplate::from_name(name, {});
    ASSERT_TRUE(tmpl.has_value()) << name;
    EXPECT_EQ(tmpl->name(), name);
    auto flagged = ChatTemplate::from_flag(name, {});
    ASSERT_TRUE(flagged.has_value()) << name;
    EXPECT_EQ(flagged->name(), name);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"chatml", "qwen3", "llama2", "llama3", "llama3.1",
                                             "phi3", "gemma", "zephyr"}));
  auto unknown = ChatTemplate::from_name("vicuna", {});
  ASSERT_FALSE(unknown.has_value());
  EXPECT_NE(unknown.error().message().find("--chat-template"), std::string::npos);
}

TEST(ChatTemplate, FlagAcceptsAFileOrInlineJinja) {
  const std::string dir = testing::make_temp_dir("chat");
  const std::string file = dir + "/tmpl.jinja";
  {
    std::ofstream out(file, std::ios::binary);
    out << template_source("llama-2-7b-chat.jinja");
  }
  ChatTemplateOptions opts;
  opts.bos_token = "<s>";
  opts.eos_token = "</s>";
  auto from_file = ChatTemplate::from_flag(file, opts);
  ASSERT_TRUE(from_file.has_value()) << from_file.error().message();
  EXPECT_EQ(from_file->name(), "llama2");
  const std::vector<ChatMessage> msgs = {{"user", "Hi"}};
  EXPECT_EQ(*from_file->render(msgs, true), "<s>[INST] Hi [/INST]");

  auto inline_src = ChatTemplate::from_flag(template_source("zephyr-7b-beta.jinja"), {});
  ASSERT_TRUE(inline_src.has_value());
  EXPECT_EQ(inline_src->name(), "zephyr");

  const std::string bad_file = dir + "/bad.jinja";
  {
    std::ofstream out(bad_file, std::ios::binary);
    out << "{{ messages[0]['content'] }}";
  }
  auto unrecognized = ChatTemplate::from_flag(bad_file, {});
  ASSERT_FALSE(unrecognized.has_value());
  EXPECT_NE(unrecognized.error().message().find(bad_file), std::string::npos);
  EXPECT_NE(unrecognized.error().message().find("--chat-template"), std::string::npos);

  auto missing = ChatTemplate::from_flag(dir + "/missing.jinja", {});
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message().find("--chat-template"), std::string::npos);
}

TEST(ChatTemplate, UnrecognizedTemplatesNameTheOverride) {
  for (const char* src :
       {"", "hello", "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}",
        "{% for m in messages %}[INST] {{ m.content }} [/INST]{% endfor %}"}) {
    auto tmpl = ChatTemplate::from_jinja(src, {});
    ASSERT_FALSE(tmpl.has_value()) << src;
    EXPECT_EQ(tmpl.error().code(), ErrorCode::kUnsupported);
    EXPECT_NE(tmpl.error().message().find("--chat-template"), std::string::npos) << src;
  }
}

TEST(ChatTemplate, RejectsConversationsItCannotRender) {
  auto tmpl = ChatTemplate::from_name("chatml", {});
  ASSERT_TRUE(tmpl.has_value());
  auto empty = tmpl->render({}, true);
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code(), ErrorCode::kInvalidArgument);
  const std::vector<ChatMessage> tool = {{"user", "hi"}, {"tool", "42"}};
  auto bad_role = tmpl->render(tool, true);
  ASSERT_FALSE(bad_role.has_value());
  EXPECT_NE(bad_role.error().message().find("'tool'"), std::string::npos);
  for (const char* name : {"llama2", "gemma"}) {
    const std::vector<ChatMessage> starts_with_assistant = {{"assistant", "hi"}, {"user", "yo"}};
    EXPECT_FALSE(ChatTemplate::from_name(name, {})->render(starts_with_assistant, true).has_value())
        << name;
  }
}

TEST(ChatDelta, AppendsOnlyTheNewTurnWhenHistoryIsAPrefix) {
  // `lathe chat` processed the first prompt, generated "Hi!" and decoded <|im_end|>.
  auto tmpl = ChatTemplate::from_jinja(template_source("smollm2-135m-instruct.jinja"), {});
  ASSERT_TRUE(tmpl.has_value());
  std::vector<ChatMessage> msgs = {{"user", "Hello"}};
  const std::string seen = *tmpl->render(msgs, true) + "Hi!" + "<|im_end|>";
  msgs.push_back({"assistant", "Hi!"});
  msgs.push_back({"user", "Bye"});
  auto delta = tmpl->render_delta(seen, msgs, true);
  ASSERT_TRUE(delta.has_value());
  EXPECT_TRUE(delta->is_append);
  EXPECT_EQ(delta->keep, seen.size());
  EXPECT_EQ(delta->append, "\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatDelta, EveryRealTemplateExtendsItsHistory) {
  // The rendering of system/user/assistant (no generation prompt) must be a prefix of the next
  // turn's prompt, except where the template treats the last message specially: Phi-3.5 ends a
  // conversation with eos_token and Qwen3 gives a final assistant turn a <think> block.
  for (const json& entry : expectations().at("rendered")) {
    SCOPED_TRACE(entry.at("template").get<std::string>());
    const ChatTemplate tmpl = load(entry);
    const std::string previous = *tmpl.render(case_messages(entry, "system_history"), false);
    const auto next = case_messages(entry, "system_3turn");
    const std::string full = *tmpl.render(next, true);
    auto delta = tmpl.render_delta(previous, next, true);
    ASSERT_TRUE(delta.has_value());
    EXPECT_EQ(full.substr(0, delta->keep) + delta->append, full);
    if (entry.at("format") == "phi3") {
      // "<|endoftext|>" against "<|user|>": the common prefix runs two bytes into the special
      // token, which is why callers round `keep` down to a token boundary.
      EXPECT_FALSE(delta->is_append);
      EXPECT_EQ(delta->keep, previous.size() - entry.at("eos_token").get<std::string>().size() + 2);
    } else if (entry.at("format") == "qwen3") {
      EXPECT_FALSE(delta->is_append);
      EXPECT_EQ(previous.substr(delta->keep, 7), "<think>");
    } else {
      EXPECT_TRUE(delta->is_append);
      EXPECT_EQ(previous + delta->append, full);
    }
  }
}

TEST(ChatDelta, ReportsRewrittenHistory) {
  // Qwen3 drops the reasoning of an earlier turn: what was processed stops being a prefix where the
  // <think> block began.
  auto tmpl = ChatTemplate::from_jinja(template_source("qwen3-0.6b.jinja"), {});
  ASSERT_TRUE(tmpl.has_value());
  std::vector<ChatMessage> msgs = {{"user", "Hello"}};
  const std::string prompt = *tmpl->render(msgs, true);
  const std::string reply = "<think>\nGreet back.\n</think>\n\nHi!";
  const std::string seen = prompt + reply + "<|im_end|>";
  msgs.push_back({"assistant", reply});
  msgs.push_back({"user", "Bye"});
  auto delta = tmpl->render_delta(seen, msgs, true);
  ASSERT_TRUE(delta.has_value());
  EXPECT_FALSE(delta->is_append);
  EXPECT_EQ(delta->keep, prompt.size());
  EXPECT_EQ(delta->append,
            "Hi!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatDelta, NeverSplitsAUtf8Character) {
  auto tmpl = ChatTemplate::from_name("chatml", {});
  ASSERT_TRUE(tmpl.has_value());
  const std::vector<ChatMessage> msgs = {{"user", "caf\xC3\xA8"}};  // "cafè"
  const std::string seen = "<|im_start|>user\ncaf\xC3\xA9";         // "café": differs in byte 2
  auto delta = tmpl->render_delta(seen, msgs, false);
  ASSERT_TRUE(delta.has_value());
  EXPECT_FALSE(delta->is_append);
  EXPECT_EQ(delta->keep, std::string("<|im_start|>user\ncaf").size());
  EXPECT_EQ(delta->append, "\xC3\xA8<|im_end|>\n");
}

TEST(PythonStrings, StripMatchesStrStrip) {
  using internal::py_strip;
  EXPECT_EQ(py_strip("  a b \t\n"), "a b");
  EXPECT_EQ(py_strip("\x1c\x1f x \x0b\x0c\r"), "x");
  EXPECT_EQ(py_strip("\xC2\xA0x\xC2\xA0"), "x");                      // U+00A0
  EXPECT_EQ(py_strip("\xE3\x80\x80x\xE2\x80\x83\xE2\x80\xA8"), "x");  // U+3000, U+2003, U+2028
  EXPECT_EQ(py_strip("\xC3\xA9"), "\xC3\xA9");                        // é is not a space
  EXPECT_EQ(py_strip("x\xE2\x80\x8B"), "x\xE2\x80\x8B");              // U+200B is not either
  EXPECT_EQ(py_strip("x \xA0"), "x \xA0");                            // malformed UTF-8 stops
  EXPECT_EQ(py_strip("   "), "");
  EXPECT_EQ(internal::strip_char("\n\na\n", '\n'), "a");
  EXPECT_EQ(internal::lstrip_char("\n\na\n", '\n'), "a\n");
  EXPECT_EQ(internal::rstrip_char("\n\na\n", '\n'), "\n\na");
  EXPECT_EQ(internal::strip_char("\n\n", '\n'), "");
}

}  // namespace
}  // namespace lathe::chat
