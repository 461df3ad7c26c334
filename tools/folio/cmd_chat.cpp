// `folio chat`: an interactive ChatML conversation on stdin/stdout.
//
// Each turn renders the whole conversation with the Qwen3 template, keeps the
// longest prefix the session already holds (its KV cache) and prefills only
// the rest, so a turn costs what it adds, not the whole history.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>

#include "runtime/model/generate.hpp"
#include "tools/folio/model_options.hpp"

namespace folio::cli {

namespace {

constexpr const char* kHelp =
    "usage: folio chat --model FILE.gguf [options]\n"
    "\n"
    "Interactive chat (ChatML / Qwen3 template, thinking off). Type a message and press Enter.\n"
    "Commands: /reset clears the conversation, /quit (or end of input) leaves.\n"
    "\n"
    "  --system TEXT        system message\n"
    "  --corpus PATH...     chat about documents instead (see `folio chat --corpus x --help`)\n";

}  // namespace

#ifdef FOLIO_HAVE_SDK
int run_chat_corpus(Args args);  // cmd_chat_corpus.cpp: chat about a corpus (SDK)
#endif

int run_chat(Args args) {
#ifdef FOLIO_HAVE_SDK
  for (size_t i = 1; i < args.size(); ++i)
    if (std::string_view(args[i]) == "--corpus") return run_chat_corpus(args);
#endif
  ModelOptions mo;
  std::string system;
  ArgReader r(args, "chat");
  while (!r.done()) {
    const std::string_view o = r.next();
    if (o == "--help" || o == "-h") {
      std::fputs(kHelp, stdout);
      std::fputs(kModelOptionsHelp, stdout);
      return 0;
    }
    if (parse_model_option(r, o, mo)) continue;
    if (o == "--system") system = r.value(o);
    else r.unknown(o);
  }
  LoadedModel lm = load_model(mo, "chat");
  model::Session session(*lm.model, session_options(mo, *lm.model));
  sampling::Sampler sampler(mo.sampling);
  std::vector<tok::ChatMessage> history;
  if (!system.empty()) history.push_back({"system", system});
  std::vector<tok::TokenId> in_session;  // tokens the session's cache holds
  std::fprintf(stderr, "folio chat: %s (%d threads, context %lld). /reset clears, /quit leaves.\n",
               mo.model_path.c_str(), lm.threads, static_cast<long long>(session.capacity()));
  std::string line;
  for (;;) {
    std::fputs("> ", stderr);
    if (!std::getline(std::cin, line) || line == "/quit" || line == "/exit") break;
    if (line == "/reset") {
      history.resize(system.empty() ? 0 : 1);
      session.reset();
      in_session.clear();
      std::fputs("(conversation cleared)\n", stderr);
      continue;
    }
    if (line.empty()) continue;
    history.push_back({"user", line});
    std::vector<tok::TokenId> ids = lm.tokenizer->encode_with_bos(tok::render_chatml(history, true), true);
    if (int64_t(ids.size()) + mo.max_new_tokens > session.capacity()) {
      std::fputs("(the conversation no longer fits the context; use /reset or a larger --ctx)\n", stderr);
      history.pop_back();
      continue;
    }
    // Reuse the cached prefix.
    size_t common = 0;
    while (common < in_session.size() && common < ids.size() && in_session[common] == ids[common]) ++common;
    if (common == ids.size()) --common;  // at least one token must be run to get logits
    session.truncate(int64_t(common));
    in_session.resize(common);
    const std::span<const tok::TokenId> fresh(ids.data() + common, ids.size() - common);
    model::GenerateOptions go;
    go.max_new_tokens = mo.max_new_tokens;
    go.stop = mo.stop;
    const model::GenerateResult res = model::generate(session, *lm.tokenizer, sampler, fresh, go, [](std::string_view s) {
      std::fwrite(s.data(), 1, s.size(), stdout);
      std::fflush(stdout);
      return true;
    });
    std::fputc('\n', stdout);
    in_session.insert(in_session.end(), fresh.begin(), fresh.end());
    // The session also holds every generated token except the last (never run).
    in_session.insert(in_session.end(), res.tokens.begin(),
                      res.tokens.begin() + std::min<ptrdiff_t>(ptrdiff_t(res.decode_steps), ptrdiff_t(res.tokens.size())));
    in_session.resize(size_t(session.n_past()));
    history.push_back({"assistant", res.text});
    const double dec = res.decode_seconds > 0 ? double(res.decode_steps) / res.decode_seconds : 0;
    std::fprintf(stderr, "[%lld new prompt tokens, %lld generated, %.1f tok/s]\n",
                 static_cast<long long>(res.prompt_tokens), static_cast<long long>(res.tokens.size()), dec);
  }
  return 0;
}

}  // namespace folio::cli
