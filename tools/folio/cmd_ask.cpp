// `folio ask`: one question about a whole corpus, answered with citations.
//
//   folio ask --model M.gguf --corpus contract.pdf src/ call.vtt --store kv.db "What is the liability cap?"
//
// The corpus is ingested, prefilled once (or restored from --store) and the
// answer is streamed to stdout, followed by its citations: references written
// in the answer checked against the corpus, and the anchors the answer
// attended to most. --json prints one JSON object instead.
#include <cstdio>

#include "tools/folio/corpus_cli.hpp"

namespace folio::cli {

namespace {

constexpr const char* kHelp =
    "usage: folio ask --model FILE.gguf --corpus PATH... [options] \"question\"\n"
    "\n"
    "Answers a question about a whole corpus with citations. With --store, the first run saves the\n"
    "corpus KV cache and later runs over the same corpus restore it instead of prefilling.\n"
    "\n";

}  // namespace

int run_ask(Args args) {
  CorpusCliOptions o;
  std::vector<std::string> positionals;
  if (!parse_corpus_command(args, "ask", o, positionals)) {
    std::fputs(kHelp, stdout);
    std::fputs(kCorpusOptionsHelp, stdout);
    return 0;
  }
  if (positionals.size() != 1) {
    std::fprintf(stderr, "folio ask: give exactly one question (quoted), got %zu (see `folio ask --help`)\n",
                 positionals.size());
    return 2;
  }
  try {
    OpenCorpus oc = open_corpus(o);
    if (!o.json)
      o.ask.on_token = [](std::string_view piece) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
        return true;
      };
    const Answer a = oc.session.ask(positionals[0], o.ask);
    if (o.json) {
      std::printf("%s\n", a.to_json().c_str());
      return 0;
    }
    std::fputs("\n\n", stdout);
    print_citations(stdout, a);
    if (!o.quiet) print_answer_stats(stderr, a);
    if (a.random_weights) print_random_weights_notice(stdout);
    return 0;
  } catch (const Exception& e) {
    std::fprintf(stderr, "folio ask: %s\n", e.what());
    return e.status() == Status::invalid_argument ? 2 : 1;
  }
}

}  // namespace folio::cli
