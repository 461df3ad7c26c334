// Qwen3's chat template (ChatML), rendered from code: the template Qwen3's
// tokenizer_config.json carries, for conversations without tool definitions.
//
//   <|im_start|>system\n{content}<|im_end|>\n      (first message, when system)
//   <|im_start|>user\n{content}<|im_end|>\n
//   <|im_start|>assistant\n{content}<|im_end|>\n
//   <|im_start|>user\n<tool_response>\n{content}\n</tool_response><|im_end|>\n
//                                                    (role "tool"; consecutive ones share a turn)
//
// Assistant turns drop their "<think>...</think>" reasoning unless they come
// after the last real user query, where it is kept (re-emitted in canonical form).
#include <string>
#include <string_view>

#include "runtime/tokenizer/tokenizer.hpp"

namespace folio::tok {

namespace {

std::string_view lstrip_newlines(std::string_view s) {
  while (!s.empty() && s.front() == '\n') s.remove_prefix(1);
  return s;
}
std::string_view rstrip_newlines(std::string_view s) {
  while (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  return s;
}

bool is_tool_response(std::string_view s) {
  return s.starts_with("<tool_response>") && s.ends_with("</tool_response>");
}

}  // namespace

std::string render_chatml(std::span<const ChatMessage> messages, bool add_generation_prompt,
                          bool enable_thinking) {
  std::string out;
  const size_t n = messages.size();
  // Index of the last user message that is a real query (not a tool response).
  size_t last_query = n == 0 ? 0 : n - 1;
  for (size_t i = n; i-- > 0;) {
    if (messages[i].role == "user" && !is_tool_response(messages[i].content)) {
      last_query = i;
      break;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "assistant") {
      std::string_view content = m.content;
      std::string_view reasoning;
      if (const size_t close = content.find("</think>"); close != std::string_view::npos) {
        // content.split('</think>')[-1].lstrip('\n'), and
        // content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n')
        content = lstrip_newlines(std::string_view(m.content).substr(m.content.rfind("</think>") + 8));
        std::string_view before = rstrip_newlines(std::string_view(m.content).substr(0, close));
        if (const size_t open = before.rfind("<think>"); open != std::string_view::npos)
          before = before.substr(open + 7);
        reasoning = lstrip_newlines(before);
      }
      out += "<|im_start|>assistant\n";
      if (i > last_query && (i + 1 == n || !reasoning.empty())) {
        out += "<think>\n";
        out += lstrip_newlines(rstrip_newlines(reasoning));
        out += "\n</think>\n\n";
        out += lstrip_newlines(content);
      } else {
        out += content;
      }
      out += "<|im_end|>\n";
    } else if (m.role == "tool") {
      if (i == 0 || messages[i - 1].role != "tool") out += "<|im_start|>user";
      out += "\n<tool_response>\n";
      out += m.content;
      out += "\n</tool_response>";
      if (i + 1 == n || messages[i + 1].role != "tool") out += "<|im_end|>\n";
    } else {
      // system (first or not), user, and any other role the caller names.
      out += "<|im_start|>";
      out += m.role;
      out += '\n';
      out += m.content;
      out += "<|im_end|>\n";
    }
  }
  if (add_generation_prompt) {
    out += "<|im_start|>assistant\n";
    if (!enable_thinking) out += "<think>\n\n</think>\n\n";
  }
  return out;
}

}  // namespace folio::tok
