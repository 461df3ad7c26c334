// render_chatml against Qwen3's chat template, rendered by hand from the
// template text (tokenizer_config.json of Qwen3) for each case.
#include <doctest/doctest.h>

#include <vector>

#include "runtime/tokenizer/tokenizer.hpp"

using namespace folio::tok;

TEST_CASE("single user turn with and without thinking") {
  const std::vector<ChatMessage> m = {{"user", "Hello!"}};
  CHECK(render_chatml(m, true, false) ==
        "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
  CHECK(render_chatml(m, true, true) == "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n");
  CHECK(render_chatml(m, false, false) == "<|im_start|>user\nHello!<|im_end|>\n");
}

TEST_CASE("system, history and a new question") {
  const std::vector<ChatMessage> m = {
      {"system", "You are terse."}, {"user", "What is 2+2?"}, {"assistant", "4"}, {"user", "And 3+3?"}};
  CHECK(render_chatml(m, true, false) ==
        "<|im_start|>system\nYou are terse.<|im_end|>\n"
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
        "<|im_start|>assistant\n4<|im_end|>\n"
        "<|im_start|>user\nAnd 3+3?<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\n");
}

TEST_CASE("reasoning is dropped from earlier turns and kept after the last query") {
  const std::vector<ChatMessage> m = {{"user", "Q1"},
                                      {"assistant", "<think>\nsome thought\n</think>\n\nA1"},
                                      {"user", "Q2"},
                                      {"assistant", "<think>\nmore\n</think>\n\nA2"}};
  CHECK(render_chatml(m, false, true) ==
        "<|im_start|>user\nQ1<|im_end|>\n"
        "<|im_start|>assistant\nA1<|im_end|>\n"
        "<|im_start|>user\nQ2<|im_end|>\n"
        "<|im_start|>assistant\n<think>\nmore\n</think>\n\nA2<|im_end|>\n");
}

TEST_CASE("the last assistant turn always gets a think block") {
  const std::vector<ChatMessage> m = {{"user", "Q"}, {"assistant", "no reasoning here"}};
  CHECK(render_chatml(m, false, true) ==
        "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nno reasoning here<|im_end|>\n");
}

TEST_CASE("tool responses share one user turn; assistant turns between tools keep reasoning") {
  const std::vector<ChatMessage> m = {{"system", "S"},
                                      {"user", "call a tool"},
                                      {"assistant", "<think>plan</think>calling"},
                                      {"tool", "{\"result\": 1}"},
                                      {"tool", "{\"result\": 2}"},
                                      {"assistant", "done"}};
  CHECK(render_chatml(m, true, false) ==
        "<|im_start|>system\nS<|im_end|>\n"
        "<|im_start|>user\ncall a tool<|im_end|>\n"
        "<|im_start|>assistant\n<think>\nplan\n</think>\n\ncalling<|im_end|>\n"
        "<|im_start|>user\n<tool_response>\n{\"result\": 1}\n</tool_response>\n<tool_response>\n{\"result\": 2}\n"
        "</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\ndone<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\n");
}

TEST_CASE("a user message that is a tool response does not count as the last query") {
  const std::vector<ChatMessage> m = {{"user", "real question"},
                                      {"assistant", "<think>r1</think>a1"},
                                      {"user", "<tool_response>x</tool_response>"},
                                      {"assistant", "<think>r2</think>a2"}};
  CHECK(render_chatml(m, false, true) ==
        "<|im_start|>user\nreal question<|im_end|>\n"
        "<|im_start|>assistant\n<think>\nr1\n</think>\n\na1<|im_end|>\n"
        "<|im_start|>user\n<tool_response>x</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n<think>\nr2\n</think>\n\na2<|im_end|>\n");
}

TEST_CASE("a later system message is rendered in place") {
  const std::vector<ChatMessage> m = {{"user", "first"}, {"system", "late system"}, {"user", "multi\nline"}};
  CHECK(render_chatml(m, true, true) ==
        "<|im_start|>user\nfirst<|im_end|>\n<|im_start|>system\nlate system<|im_end|>\n"
        "<|im_start|>user\nmulti\nline<|im_end|>\n<|im_start|>assistant\n");
}
