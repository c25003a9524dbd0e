// The per-format renderers behind ChatTemplate, and the Python string semantics they need.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "chat/chat_template.h"
#include "core/status.h"

namespace lathe::chat::internal {

// Python's str.strip() with no argument (Jinja's trim filter is the same): removes leading and
// trailing characters for which str.isspace() is true, including Unicode spaces such as U+00A0,
// decoded from UTF-8. Templates apply it to message contents, so the exact set matters.
std::string_view py_strip(std::string_view s);

// Python's str.strip(ch) / lstrip(ch) / rstrip(ch) for one ASCII character.
std::string_view strip_char(std::string_view s, char ch);
std::string_view lstrip_char(std::string_view s, char ch);
std::string_view rstrip_char(std::string_view s, char ch);

// Renders `messages` in `spec`'s format exactly as the real templates do.
Expected<std::string> render_format(const ChatTemplate::Spec& spec,
                                    const ChatTemplateOptions& options,
                                    std::span<const ChatMessage> messages,
                                    bool add_generation_prompt);

}  // namespace lathe::chat::internal
