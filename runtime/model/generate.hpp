// The generation loop: prefill a prompt, then sample, stream and stop.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/model/model.hpp"
#include "runtime/sampling/sampler.hpp"
#include "runtime/tokenizer/tokenizer.hpp"

namespace folio::model {

struct GenerateOptions {
  int64_t max_new_tokens = 128;
  std::vector<std::string> stop;  // stop strings, matched on decoded text
  bool stop_at_eos = true;        // stop on EOS / <|im_end|> / <|endoftext|>
};

enum class StopReason { eos, stop_string, length, context_full, cancelled };
const char* stop_reason_name(StopReason r) noexcept;

struct GenerateResult {
  std::string text;                 // streamed text (stop string excluded)
  std::vector<TokenId> tokens;      // generated ids (stop token excluded)
  int64_t prompt_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;
  int64_t decode_steps = 0;         // forward passes after the prefill
  StopReason reason = StopReason::length;
};

// Receives text as it becomes final; return false to stop generating.
using StreamFn = std::function<bool(std::string_view piece)>;

// Appends `prompt` to the session (batched prefill) and generates. The session
// keeps everything (prompt and output), so a chat can continue from it.
GenerateResult generate(Session& session, const tok::Tokenizer& tokenizer, sampling::Sampler& sampler,
                        std::span<const TokenId> prompt, const GenerateOptions& options, const StreamFn& stream = {});

// Token ids that end generation for this vocabulary (EOS, <|im_end|>, <|endoftext|>).
std::vector<TokenId> end_of_generation_tokens(const tok::Tokenizer& tokenizer);

}  // namespace folio::model
