// The subcommand table. Add a command: write cmd_<name>.cpp defining
// `int run_<name>(Args)`, declare it here and add a row.
#include "tools/folio/commands.hpp"

namespace folio::cli {

int run_version(Args args);
int run_inspect(Args args);
int run_convert(Args args);
int run_generate(Args args);
int run_chat(Args args);
int run_make_tiny(Args args);
int run_tokenize(Args args);
#ifdef FOLIO_HAVE_STORE
int run_cache(Args args);
#endif
#ifdef FOLIO_HAVE_INGEST
int run_ingest(Args args);
#endif
#ifdef FOLIO_HAVE_SDK
int run_ask(Args args);
#endif

namespace {
constexpr Command kCommands[] = {
    {"version", "print Folio's version", run_version},
    {"inspect", "show a GGUF file's metadata, tensors and sizes", run_inspect},
    {"convert", "convert a Hugging Face model directory to GGUF", run_convert},
    {"generate", "run a model on a prompt and stream the output", run_generate},
    {"chat", "interactive chat with a model (ChatML)", run_chat},
    {"make-tiny", "write a deterministic random-weight model (tests, demos)", run_make_tiny},
    {"tokenize", "encode text to token ids (or decode ids) with a model's tokenizer", run_tokenize},
#ifdef FOLIO_HAVE_INGEST
    {"ingest", "ingest files and directories; print outline and token statistics", run_ingest},
#endif
#ifdef FOLIO_HAVE_SDK
    {"ask", "answer a question about a corpus (PDF, code, transcripts) with citations", run_ask},
#endif
#ifdef FOLIO_HAVE_STORE
    {"cache", "list, check and prune a KV-snapshot store (--store PATH)", run_cache},
#endif
};
}  // namespace

std::span<const Command> commands() { return kCommands; }

}  // namespace folio::cli
