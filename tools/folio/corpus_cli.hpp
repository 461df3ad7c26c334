// Shared pieces of the corpus commands (`folio ask`, `folio chat --corpus`):
// option parsing onto the SDK's options, terminal progress, and printing of
// answers and citations. Built only with the SDK (libfolio).
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "folio/folio.hpp"
#include "tools/folio/arg_reader.hpp"

namespace folio::cli {

struct CorpusCliOptions {
  EngineOptions engine;
  SessionOptions session;
  AskOptions ask;
  std::vector<std::string> corpus;
  bool json = false;
  bool quiet = false;  // no progress or statistics on stderr
};

inline constexpr const char* kCorpusOptionsHelp =
    "  --model FILE         GGUF model (required)\n"
    "  --corpus PATH...     files or directories (PDF, Markdown, text, WebVTT/SRT/speaker logs, code);\n"
    "                       repeatable, or several paths after one --corpus\n"
    "  --store FILE         KV-snapshot store: the corpus is prefilled once and restored by later runs\n"
    "  --store-max-mb N     store size budget (default 4096)\n"
    "  --ctx N              context budget in tokens (default: the model's, at most 32768)\n"
    "  --sparse P           attention: dense, balanced (default) or fast\n"
    "  -n, --max-tokens N   answer length limit (default 256)\n"
    "  --temp X             temperature (default 0: greedy)\n"
    "  --top-k N --top-p X --min-p X --repeat-penalty X --seed N   sampling\n"
    "  --stop S             stop string (repeatable)\n"
    "  --evidence N         attention-evidence citations (default 5; 0: off)\n"
    "  --threads N          CPU threads (default: all cores)\n"
    "  --json               print the answer as one JSON object\n"
    "  --system TEXT        instructions placed before the corpus\n"
    "  -q, --quiet          no progress or statistics on stderr\n";

// Parses every argument of a corpus command (args[0] is the command name).
// --corpus takes the following arguments up to the next option; arguments
// that are not options or their values are returned as positionals (the
// question of `folio ask`). Returns false when --help was asked for.
bool parse_corpus_command(Args args, std::string_view command, CorpusCliOptions& o,
                          std::vector<std::string>& positionals);

// Draws "ingest 3/5 file.pdf" / "prefill 512/2048" on one line of stderr when
// it is a terminal (nothing otherwise).
ProgressFn terminal_progress(bool enabled);
void end_progress_line(bool enabled);

// Opens engine, corpus and session, reporting what was ingested, restored and
// prefilled on stderr (unless quiet).
struct OpenCorpus {
  Engine engine;
  Corpus corpus;
  Session session;
};
OpenCorpus open_corpus(CorpusCliOptions& o);

void print_citations(std::FILE* out, const Answer& a);
void print_answer_stats(std::FILE* out, const Answer& a);
// The warning printed for random-weight models.
void print_random_weights_notice(std::FILE* out);

}  // namespace folio::cli
