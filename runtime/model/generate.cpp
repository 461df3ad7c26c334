#include "runtime/model/generate.hpp"

#include <algorithm>
#include <chrono>

#include "runtime/common/error.hpp"
#include "runtime/sampling/stop.hpp"

namespace folio::model {

const char* stop_reason_name(StopReason r) noexcept {
  switch (r) {
    case StopReason::eos: return "eos";
    case StopReason::stop_string: return "stop string";
    case StopReason::length: return "length";
    case StopReason::context_full: return "context full";
    case StopReason::cancelled: return "cancelled";
  }
  return "?";
}

std::vector<TokenId> end_of_generation_tokens(const tok::Tokenizer& tokenizer) {
  std::vector<TokenId> ids;
  if (tokenizer.vocab().eos) ids.push_back(*tokenizer.vocab().eos);
  for (const char* s : {"<|im_end|>", "<|endoftext|>", "<|eot_id|>"})
    if (auto id = tokenizer.find(s)) ids.push_back(*id);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

GenerateResult generate(Session& session, const tok::Tokenizer& tokenizer, sampling::Sampler& sampler,
                        std::span<const TokenId> prompt, const GenerateOptions& options, const StreamFn& stream) {
  using clock = std::chrono::steady_clock;
  if (prompt.empty()) fail(Errc::invalid_argument, "generate: empty prompt");
  GenerateResult res;
  res.prompt_tokens = int64_t(prompt.size());
  const std::vector<TokenId> eog = end_of_generation_tokens(tokenizer);
  std::vector<TokenId> history(prompt.begin(), prompt.end());
  sampling::StopMatcher stops(options.stop);
  tok::StreamDecoder decoder(tokenizer);
  bool cancelled = false;
  auto emit = [&](const std::string& text) {
    if (text.empty() || cancelled) return;
    res.text += text;
    if (stream && !stream(text)) cancelled = true;
  };

  const auto t0 = clock::now();
  std::span<const float> logits = session.prefill(prompt);
  const auto t1 = clock::now();
  res.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();
  res.reason = StopReason::length;
  for (int64_t i = 0; i < options.max_new_tokens; ++i) {
    const TokenId next = sampler.sample(logits, history);
    if (options.stop_at_eos && std::binary_search(eog.begin(), eog.end(), next)) {
      res.reason = StopReason::eos;
      break;
    }
    res.tokens.push_back(next);
    history.push_back(next);
    if (!tokenizer.is_control(next)) emit(stops.push(decoder.push(next)));
    if (stops.stopped()) {
      res.reason = StopReason::stop_string;
      break;
    }
    if (cancelled) {
      res.reason = StopReason::cancelled;
      break;
    }
    if (i + 1 == options.max_new_tokens) break;  // no forward pass for a token nobody reads
    if (session.n_past() >= session.capacity()) {
      res.reason = StopReason::context_full;
      break;
    }
    logits = session.decode_step(next);
    ++res.decode_steps;
  }
  if (res.reason != StopReason::stop_string) emit(stops.push(decoder.flush()) + stops.flush());
  res.decode_seconds = std::chrono::duration<double>(clock::now() - t1).count();
  return res;
}

}  // namespace folio::model
