// `folio generate`: prefill a prompt and stream sampled tokens to stdout.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "runtime/model/generate.hpp"
#include "tools/folio/model_options.hpp"

namespace folio::cli {

namespace {

constexpr const char* kHelp =
    "usage: folio generate --model FILE.gguf (--prompt TEXT | --file FILE) [options]\n"
    "\n"
    "Runs the prompt through the model (batched prefill) and streams the generated text to stdout;\n"
    "timings (prefill and decode tokens/s) go to stderr.\n"
    "\n"
    "  --prompt TEXT        the prompt\n"
    "  --file FILE          read the prompt from FILE\n"
    "  --chat               wrap the prompt as one ChatML user turn (Qwen3 template, thinking off)\n"
    "  --system TEXT        system message for --chat\n"
    "  --no-timings         do not print timings\n";

}  // namespace

int run_generate(Args args) {
  ModelOptions mo;
  std::string prompt, system;
  bool have_prompt = false, chat = false, timings = true;
  ArgReader r(args, "generate");
  while (!r.done()) {
    const std::string_view o = r.next();
    if (o == "--help" || o == "-h") {
      std::fputs(kHelp, stdout);
      std::fputs(kModelOptionsHelp, stdout);
      return 0;
    }
    if (parse_model_option(r, o, mo)) continue;
    if (o == "--prompt" || o == "-p") {
      prompt = r.value(o);
      have_prompt = true;
    } else if (o == "--file" || o == "-f") {
      const std::string path(r.value(o));
      std::ifstream in(path, std::ios::binary);
      if (!in) fail(Errc::io, path + ": cannot open the prompt file");
      std::ostringstream ss;
      ss << in.rdbuf();
      prompt = ss.str();
      have_prompt = true;
    } else if (o == "--chat") {
      chat = true;
    } else if (o == "--system") {
      system = r.value(o);
    } else if (o == "--no-timings") {
      timings = false;
    } else {
      r.unknown(o);
    }
  }
  if (!have_prompt) fail(Errc::invalid_argument, "no prompt: pass --prompt TEXT or --file FILE");
  LoadedModel lm = load_model(mo, "generate");
  std::vector<tok::TokenId> ids;
  if (chat) {
    std::vector<tok::ChatMessage> msgs;
    if (!system.empty()) msgs.push_back({"system", system});
    msgs.push_back({"user", prompt});
    ids = lm.tokenizer->encode_with_bos(tok::render_chatml(msgs, true), /*parse_special=*/true);
  } else {
    ids = lm.tokenizer->encode_with_bos(prompt, /*parse_special=*/false);
  }
  if (ids.empty()) fail(Errc::invalid_argument, "the prompt is empty after tokenization");
  model::Session session(*lm.model, session_options(mo, *lm.model));
  if (int64_t(ids.size()) >= session.capacity())
    fail(Errc::invalid_argument, "the prompt has " + std::to_string(ids.size()) + " tokens but the context holds " +
                                     std::to_string(session.capacity()) + "; pass a larger --ctx");
  sampling::Sampler sampler(mo.sampling);
  model::GenerateOptions go;
  go.max_new_tokens = mo.max_new_tokens;
  go.stop = mo.stop;
  const model::GenerateResult res = model::generate(session, *lm.tokenizer, sampler, ids, go, [](std::string_view s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  std::fputc('\n', stdout);
  if (timings) {
    const double pre = res.prefill_seconds > 0 ? double(res.prompt_tokens) / res.prefill_seconds : 0;
    const double dec = res.decode_seconds > 0 ? double(res.decode_steps) / res.decode_seconds : 0;
    std::fprintf(stderr,
                 "prefill: %lld tokens in %.3f s (%.1f tok/s); decode: %lld tokens in %.3f s (%.1f tok/s); "
                 "%d threads; stop: %s\n",
                 static_cast<long long>(res.prompt_tokens), res.prefill_seconds, pre,
                 static_cast<long long>(res.tokens.size()), res.decode_seconds, dec, lm.threads,
                 model::stop_reason_name(res.reason));
  }
  return 0;
}

}  // namespace folio::cli
