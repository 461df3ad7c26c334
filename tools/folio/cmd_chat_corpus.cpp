// `folio chat --corpus PATH...`: an interactive conversation about a corpus.
// The corpus is prefilled once (or restored from --store); each question is
// answered after it together with the conversation so far.
//   /sources  documents in the corpus (and skipped items)
//   /cite     the citations of the last answer, in full
//   /reset    forget the conversation (the corpus stays prefilled)
//   /quit     leave (or end of input)
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include "tools/folio/corpus_cli.hpp"

namespace folio::cli {

namespace {

constexpr const char* kHelp =
    "usage: folio chat --model FILE.gguf --corpus PATH... [options]\n"
    "\n"
    "Interactive questions about a corpus. Commands: /sources lists the documents, /cite shows the\n"
    "citations of the last answer, /reset forgets the conversation, /quit leaves.\n"
    "\n";

void print_sources(const CorpusStats& st) {
  std::printf("%zu document(s), %llu tokens (%llu global):\n", st.documents.size(),
              static_cast<unsigned long long>(st.tokens), static_cast<unsigned long long>(st.global_tokens));
  for (const auto& d : st.documents) {
    std::printf("  %-40s %-10s %6llu tokens %5llu anchors", d.source.c_str(), d.format.c_str(),
                static_cast<unsigned long long>(d.tokens), static_cast<unsigned long long>(d.anchors));
    if (d.pages) std::printf(" %u pages", d.pages);
    std::printf("\n");
  }
  for (const auto& s : st.skipped) std::printf("  skipped %s: %s\n", s.source.c_str(), s.reason.c_str());
}

}  // namespace

int run_chat_corpus(Args args) {
  CorpusCliOptions o;
  std::vector<std::string> positionals;
  if (!parse_corpus_command(args, "chat", o, positionals)) {
    std::fputs(kHelp, stdout);
    std::fputs(kCorpusOptionsHelp, stdout);
    return 0;
  }
  if (!positionals.empty()) {
    std::fprintf(stderr, "folio chat: unexpected argument '%s' (questions are read from the terminal)\n",
                 positionals[0].c_str());
    return 2;
  }
  try {
    OpenCorpus oc = open_corpus(o);
    o.ask.remember = true;
    o.ask.on_token = [](std::string_view piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      return true;
    };
    std::optional<Answer> last;
    std::fputs("folio chat: ask about the corpus. /sources, /cite, /reset, /quit.\n", stderr);
    std::string line;
    for (;;) {
      std::fputs("> ", stderr);
      if (!std::getline(std::cin, line) || line == "/quit" || line == "/exit") break;
      if (line.empty()) continue;
      if (line == "/sources") {
        print_sources(oc.session.corpus_stats());
        continue;
      }
      if (line == "/cite") {
        if (!last) std::puts("(no answer yet)");
        else print_citations(stdout, *last);
        continue;
      }
      if (line == "/reset") {
        oc.session.reset();
        last.reset();
        std::fputs("(conversation cleared; the corpus stays loaded)\n", stderr);
        continue;
      }
      if (line[0] == '/') {
        std::fprintf(stderr, "(unknown command %s: /sources, /cite, /reset, /quit)\n", line.c_str());
        continue;
      }
      try {
        last = oc.session.ask(line, o.ask);
        std::fputc('\n', stdout);
        if (!o.quiet) print_answer_stats(stderr, *last);
      } catch (const Exception& e) {
        // A question that does not fit is the user's to fix; the session stays usable.
        std::fprintf(stderr, "(%s)\n", e.what());
      }
    }
    return 0;
  } catch (const Exception& e) {
    std::fprintf(stderr, "folio chat: %s\n", e.what());
    return e.status() == Status::invalid_argument ? 2 : 1;
  }
}

}  // namespace folio::cli
