#include "tools/folio/corpus_cli.hpp"

#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "runtime/common/error.hpp"

namespace folio::cli {

namespace {

std::string thousands(uint64_t n) {
  std::string s = std::to_string(n);
  for (int i = int(s.size()) - 3; i > 0; i -= 3) s.insert(size_t(i), ",");
  return s;
}

}  // namespace

bool parse_corpus_command(Args args, std::string_view command, CorpusCliOptions& o,
                          std::vector<std::string>& positionals) {
  const std::string cmd(command);
  size_t i = 1;
  bool corpus_was_last = false;  // the trailing run of arguments went to --corpus
  auto value = [&](std::string_view opt) -> std::string {
    if (i >= args.size())
      fail(Errc::invalid_argument, std::string(opt) + " needs a value (see `folio " + cmd + " --help`)");
    return args[i++];
  };
  auto integer = [&](std::string_view opt, int64_t lo, int64_t hi) {
    const std::string v = value(opt);
    int64_t x = 0;
    const auto r = std::from_chars(v.data(), v.data() + v.size(), x);
    if (r.ec != std::errc() || r.ptr != v.data() + v.size() || x < lo || x > hi)
      fail(Errc::invalid_argument, std::string(opt) + " expects an integer in [" + std::to_string(lo) + ", " +
                                       std::to_string(hi) + "], got '" + v + "'");
    return x;
  };
  auto real = [&](std::string_view opt, double lo, double hi) {
    const std::string v = value(opt);
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || end != v.c_str() + v.size() || !(x >= lo && x <= hi))
      fail(Errc::invalid_argument, std::string(opt) + " expects a number in [" + std::to_string(lo) + ", " +
                                       std::to_string(hi) + "], got '" + v + "'");
    return x;
  };
  while (i < args.size()) {
    const std::string_view a = args[i++];
    corpus_was_last = false;
    if (a == "--help" || a == "-h") return false;
    if (a == "--corpus") {
      const size_t before = o.corpus.size();
      while (i < args.size() && args[i][0] != '-') o.corpus.emplace_back(args[i++]);
      if (o.corpus.size() == before) fail(Errc::invalid_argument, "--corpus needs at least one path");
      corpus_was_last = true;
    } else if (a == "--model" || a == "-m") o.engine.model_path = value(a);
    else if (a == "--store") o.engine.store_path = value(a);
    else if (a == "--store-max-mb") o.engine.store_max_bytes = uint64_t(integer(a, 1, int64_t(1) << 30)) << 20;
    else if (a == "--ctx" || a == "-c") o.engine.context_budget = integer(a, 64, int64_t(1) << 31);
    else if (a == "--threads" || a == "-t") o.engine.threads = int(integer(a, 1, 1024));
    else if (a == "--sparse") {
      const std::string p = value(a);
      if (p == "dense") o.session.sparse = SparsePreset::dense;
      else if (p == "balanced") o.session.sparse = SparsePreset::balanced;
      else if (p == "fast") o.session.sparse = SparsePreset::fast;
      else fail(Errc::invalid_argument, "--sparse must be dense, balanced or fast, got '" + p + "'");
    } else if (a == "-n" || a == "--max-tokens") o.ask.max_tokens = integer(a, 1, int64_t(1) << 30);
    else if (a == "--temp") o.ask.sampling.temperature = float(real(a, 0, 100));
    else if (a == "--top-k") o.ask.sampling.top_k = int(integer(a, 0, 1 << 30));
    else if (a == "--top-p") o.ask.sampling.top_p = float(real(a, 0, 1));
    else if (a == "--min-p") o.ask.sampling.min_p = float(real(a, 0, 1));
    else if (a == "--repeat-penalty") o.ask.sampling.repeat_penalty = float(real(a, 0.01, 100));
    else if (a == "--seed") o.ask.sampling.seed = uint64_t(integer(a, 0, INT64_MAX));
    else if (a == "--stop") o.ask.stop.push_back(value(a));
    else if (a == "--evidence") o.ask.evidence_anchors = int(integer(a, 0, 1000));
    else if (a == "--system") o.session.system_prompt = value(a);
    else if (a == "--json") o.json = true;
    else if (a == "-q" || a == "--quiet") o.quiet = true;
    else if (a.size() > 1 && a[0] == '-')
      fail(Errc::invalid_argument, "unknown option '" + std::string(a) + "' (see `folio " + cmd + " --help`)");
    else positionals.emplace_back(a);
  }
  // `folio ask --model m --corpus a.pdf b.py "question"`: the question ended
  // the run of corpus paths (it is not a file; an existing path stays a source).
  std::error_code ec;
  if (positionals.empty() && corpus_was_last && o.corpus.size() > 1 && command == "ask" &&
      !std::filesystem::exists(o.corpus.back(), ec)) {
    positionals.push_back(o.corpus.back());
    o.corpus.pop_back();
  }
  if (o.engine.model_path.empty())
    fail(Errc::invalid_argument, "no model: pass --model FILE.gguf (`folio make-tiny -o tiny.gguf` makes a test model)");
  if (o.corpus.empty()) fail(Errc::invalid_argument, "no corpus: pass --corpus PATH... (files or directories)");
  return true;
}

ProgressFn terminal_progress(bool enabled) {
  if (!enabled || !isatty(STDERR_FILENO)) return {};
  auto mutex = std::make_shared<std::mutex>();
  return [mutex](const Progress& p) {
    std::lock_guard lock(*mutex);
    constexpr int kWidth = 24;
    const double f = p.total ? double(p.done) / double(p.total) : 0;
    std::string bar(size_t(kWidth), ' ');
    for (int k = 0; k < int(f * kWidth) && k < kWidth; ++k) bar[size_t(k)] = '#';
    std::string item = p.item;
    if (item.size() > 40) item = "..." + item.substr(item.size() - 37);
    std::fprintf(stderr, "\r\033[K%-8s [%s] %s/%s %s", p.stage.c_str(), bar.c_str(), thousands(p.done).c_str(),
                 thousands(p.total).c_str(), item.c_str());
    std::fflush(stderr);
    return true;
  };
}

void end_progress_line(bool enabled) {
  if (enabled && isatty(STDERR_FILENO)) std::fputs("\r\033[K", stderr);
}

OpenCorpus open_corpus(CorpusCliOptions& o) {
  const bool show = !o.quiet;
  Engine engine(o.engine);
  const ModelInfo mi = engine.model_info();
  if (show)
    std::fprintf(stderr, "folio: %s (%s, %.1fM parameters, %d threads, context budget %s tokens)\n", mi.path.c_str(),
                 mi.architecture.c_str(), double(mi.parameters) / 1e6, mi.threads, thousands(uint64_t(mi.context_budget)).c_str());
  CorpusOptions co;
  co.progress = terminal_progress(show);
  Corpus corpus = engine.corpus(co);
  for (const auto& p : o.corpus) corpus.add_path(p);
  const CorpusStats st = corpus.stats();
  end_progress_line(show);
  if (show) {
    std::fprintf(stderr, "folio: ingested %zu document(s) in %.2f s: %s tokens (%s global/anchor tokens)\n",
                 st.documents.size(), st.ingest_s, thousands(st.tokens).c_str(), thousands(st.global_tokens).c_str());
    for (const auto& s : st.skipped) std::fprintf(stderr, "folio: skipped %s: %s\n", s.source.c_str(), s.reason.c_str());
    if (!st.budget_note.empty()) std::fprintf(stderr, "folio: global-token budget: %s\n", st.budget_note.c_str());
  }
  o.session.progress = terminal_progress(show);
  Session session = engine.open_session(corpus, o.session);
  end_progress_line(show);
  if (show) {
    const Timings t = session.open_timings();
    if (!o.engine.store_path.empty()) {
      if (t.restored_tokens > 0)
        std::fprintf(stderr, "folio: restored %s of %s corpus tokens from the snapshot store %s in %.3f s; prefilled %s in %.2f s\n",
                     thousands(uint64_t(t.restored_tokens)).c_str(), thousands(uint64_t(t.corpus_tokens)).c_str(),
                     o.engine.store_path.c_str(), t.restore_s, thousands(uint64_t(t.prefilled_tokens)).c_str(), t.prefill_s);
      else
        std::fprintf(stderr, "folio: no snapshot for this corpus in %s: prefilled %s tokens in %.2f s, saved in %.3f s\n",
                     o.engine.store_path.c_str(), thousands(uint64_t(t.prefilled_tokens)).c_str(), t.prefill_s, t.save_s);
    } else {
      std::fprintf(stderr, "folio: prefilled %s tokens in %.2f s (no --store: nothing kept for the next run)\n",
                   thousands(uint64_t(t.prefilled_tokens)).c_str(), t.prefill_s);
    }
    if (mi.random_weights) print_random_weights_notice(stderr);
  }
  return {std::move(engine), std::move(corpus), std::move(session)};
}

void print_random_weights_notice(std::FILE* out) {
  std::fputs(
      "NOTE: this model has random weights (made by `folio make-tiny`): its answers are meaningless text.\n"
      "      Ingestion, snapshots, prefill, decoding and citation checking are real; the words are not.\n",
      out);
}

void print_citations(std::FILE* out, const Answer& a) {
  bool any_ref = false;
  for (const Citation& c : a.citations) {
    if (c.kind != CitationKind::reference) continue;
    if (!any_ref) std::fputs("References in the answer:\n", out);
    any_ref = true;
    if (c.resolved)
      std::fprintf(out, "  %-16s -> %s\n", c.text.c_str(), c.location.description.c_str());
    else
      std::fprintf(out, "  %-16s -> UNRESOLVED: %s\n", c.text.c_str(), c.problem.c_str());
  }
  if (!any_ref) std::fputs("References in the answer: none\n", out);
  bool any_att = false;
  for (const Citation& c : a.citations) {
    if (c.kind != CitationKind::attention) continue;
    if (!any_att) std::fputs("Attention evidence (share of the answer's attention on the corpus):\n", out);
    any_att = true;
    std::fprintf(out, "  %5.1f%%  %s\n", 100.0 * c.weight, c.location.description.c_str());
  }
}

void print_answer_stats(std::FILE* out, const Answer& a) {
  const Timings& t = a.timings;
  std::fprintf(out,
               "[corpus %s tokens: %s restored (%.3f s), %s prefilled (%.2f s); question %s tokens (%.2f s); "
               "%s generated in %.2f s (%.1f tok/s); stop: %s]\n",
               thousands(uint64_t(t.corpus_tokens)).c_str(), thousands(uint64_t(t.restored_tokens)).c_str(), t.restore_s,
               thousands(uint64_t(t.prefilled_tokens)).c_str(), t.prefill_s, thousands(uint64_t(t.prompt_tokens)).c_str(),
               t.prompt_s, thousands(uint64_t(t.generated_tokens)).c_str(), t.decode_s, t.decode_tokens_per_s,
               a.stop_reason.c_str());
}

}  // namespace folio::cli
