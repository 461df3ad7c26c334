// `folio ingest PATH...`: ingest files and directories, print the outline of
// each document and statistics (documents, blocks, anchors, tokens, global
// tokens, skipped items with reasons), or all of it as JSON.
//
// Tokens need a model's tokenizer (--model M.gguf). Without one the counts are
// byte-level (one token per byte, an upper bound) plus an estimate of model
// tokens, and the output says so.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "ingest/corpus.hpp"
#include "ingest/ingest.hpp"
#include "ingest/tokenizer_adapter.hpp"
#include "runtime/common/error.hpp"
#include "runtime/common/json.hpp"
#include "runtime/gguf/gguf.hpp"
#include "runtime/tokenizer/tokenizer.hpp"
#include "tools/folio/arg_reader.hpp"
#include "tools/folio/commands.hpp"

namespace folio::cli {
namespace {

constexpr const char* kUsage =
    "usage: folio ingest PATH... [--json] [--model M.gguf] [--global-budget F]\n"
    "                    [--depth N] [--no-code] [--strict] [--password P]\n"
    "\n"
    "Ingests PDFs, transcripts (.vtt, .srt, speaker logs), Markdown/text and\n"
    "source trees, then prints each document's outline and the statistics of the\n"
    "assembled token stream. Files that cannot be ingested are listed with the\n"
    "reason.\n"
    "\n"
    "  --json              print everything as one JSON object\n"
    "  --model M.gguf      count tokens with this model's tokenizer; without it,\n"
    "                      counts are byte-level (1 token per byte) plus an estimate\n"
    "  --global-budget F   fraction of tokens that may be global anchor text (0.05)\n"
    "  --depth N           outline levels to print (default 3; 0 = none)\n"
    "  --no-code           directories: documents only, no source code\n"
    "  --strict            stop at the first file that fails\n"
    "  --password P        password for encrypted PDFs\n"
    "  -h, --help          this help\n";

// Progress on a terminal only: one rewritten line on stderr.
class Progress {
 public:
  Progress() : enabled_(isatty(STDERR_FILENO) == 1) {}
  ~Progress() { clear(); }
  void update(size_t done, size_t total, std::string_view item) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(80) && done != total) return;
    last_ = now;
    std::string name(item.size() > 50 ? "..." + std::string(item.substr(item.size() - 47)) : std::string(item));
    if (total > 0)
      std::fprintf(stderr, "\r\033[K[%zu/%zu] %s", done, total, name.c_str());
    else
      std::fprintf(stderr, "\r\033[K[%zu] %s", done, name.c_str());
    std::fflush(stderr);
    shown_ = true;
  }
  void clear() {
    if (enabled_ && shown_) std::fprintf(stderr, "\r\033[K");
    shown_ = false;
  }

 private:
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

size_t utf8_chars(std::string_view s) {
  size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

void print_outline(const ingest::Document& d, ingest::AnchorId id, int depth, int max_depth) {
  const ingest::Anchor& a = d.outline[id];
  if (depth >= max_depth) return;
  std::string where = ingest::describe(d.blocks[a.block].where);
  std::printf("  %*s%s  [%s%s%s]\n", depth * 2, "", a.label().c_str(), ingest::anchor_kind_name(a.kind),
              where.empty() ? "" : ", ", where.c_str());
  for (ingest::AnchorId c : d.outline.children(id)) print_outline(d, c, depth + 1, max_depth);
}

json::Value outline_json(const ingest::Document& d, ingest::AnchorId id, int depth, int max_depth) {
  const ingest::Anchor& a = d.outline[id];
  json::Object o;
  o.insert("kind", ingest::anchor_kind_name(a.kind));
  if (!a.number.empty()) o.insert("number", a.number);
  o.insert("title", a.title);
  o.insert("level", int64_t(a.level));
  o.insert("block", int64_t(a.block));
  o.insert("where", ingest::describe(d.blocks[a.block].where));
  if (depth + 1 < max_depth && !a.children.empty()) {
    json::Array kids;
    for (ingest::AnchorId c : a.children) kids.push_back(outline_json(d, c, depth + 1, max_depth));
    o.insert("children", std::move(kids));
  }
  return json::Value(std::move(o));
}

}  // namespace

int run_ingest(Args args) {
  ArgReader r(args, "ingest");
  std::vector<std::string> paths;
  std::string model;
  bool as_json = false;
  int depth = 3;
  ingest::IngestOptions options;
  ingest::AssembleOptions assemble;
  while (!r.done()) {
    const std::string_view a = r.next();
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--json") {
      as_json = true;
    } else if (a == "--model") {
      model = r.value(a);
    } else if (a == "--global-budget") {
      assemble.global_budget = r.real(a, 0.0, 1.0);
    } else if (a == "--depth") {
      depth = int(r.integer(a, 0, 64));
    } else if (a == "--no-code") {
      options.include_code = false;
    } else if (a == "--strict") {
      options.strict = true;
    } else if (a == "--password") {
      options.pdf.password = r.value(a);
    } else if (a.starts_with("-") && a.size() > 1) {
      r.unknown(a);
    } else {
      paths.emplace_back(a);
    }
  }
  if (paths.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }

  // The tokenizer first: a bad --model should fail before minutes of parsing.
  std::unique_ptr<ingest::TextTokenizer> tokenizer;
  if (!model.empty()) {
    const gguf::File file = gguf::File::open(model);
    tokenizer = std::make_unique<ingest::ModelTokenizer>(tok::Tokenizer(tok::vocab_from_gguf(file)), model);
  } else {
    tokenizer = std::make_unique<ingest::ByteTokenizer>();
  }

  Progress progress;
  options.progress = [&](size_t done, size_t total, std::string_view item) { progress.update(done, total, item); };
  const auto t0 = std::chrono::steady_clock::now();
  ingest::Corpus corpus;
  for (const std::string& p : paths) ingest::add_path(corpus, p, options);
  const auto t1 = std::chrono::steady_clock::now();
  progress.clear();
  const ingest::TokenStream stream = ingest::assemble(corpus, *tokenizer, assemble);
  const auto t2 = std::chrono::steady_clock::now();

  size_t blocks = 0, anchors = 0, bytes = 0, chars = 0;
  for (const auto& d : corpus.documents()) {
    blocks += d.blocks.size();
    anchors += d.outline.size();
    bytes += d.source_bytes;
    for (const auto& b : d.blocks) chars += utf8_chars(b.text);
  }
  const bool byte_level = model.empty();
  const double parse_s = std::chrono::duration<double>(t1 - t0).count();
  const double tok_s = std::chrono::duration<double>(t2 - t1).count();

  if (as_json) {
    json::Object root;
    json::Array docs;
    for (size_t i = 0; i < corpus.size(); ++i) {
      const auto& d = corpus.documents()[i];
      json::Object o;
      char id[17];
      std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(corpus.ids()[i]));
      o.insert("id", id);
      o.insert("source", d.source);
      o.insert("format", ingest::source_format_name(d.format));
      if (!d.language.empty()) o.insert("language", d.language);
      o.insert("content_hash", d.content_hash);
      o.insert("bytes", int64_t(d.source_bytes));
      if (d.format == ingest::SourceFormat::pdf) o.insert("pages", int64_t(d.pages));
      o.insert("blocks", int64_t(d.blocks.size()));
      o.insert("anchors", int64_t(d.outline.size()));
      o.insert("tokens", int64_t(stream.doc_token_begin[i + 1] - stream.doc_token_begin[i]));
      json::Array notes;
      for (const auto& n : d.notes) notes.push_back(n);
      o.insert("notes", std::move(notes));
      json::Array outline;
      if (depth > 0)
        for (ingest::AnchorId a : d.outline.roots()) outline.push_back(outline_json(d, a, 0, depth));
      o.insert("outline", std::move(outline));
      docs.push_back(json::Value(std::move(o)));
    }
    root.insert("documents", std::move(docs));
    json::Array skipped;
    for (const auto& s : corpus.skipped()) {
      json::Object o;
      o.insert("source", s.source);
      o.insert("reason", s.reason);
      skipped.push_back(json::Value(std::move(o)));
    }
    root.insert("skipped", std::move(skipped));
    json::Object stats;
    stats.insert("documents", int64_t(corpus.size()));
    stats.insert("skipped", int64_t(corpus.skipped().size()));
    stats.insert("blocks", int64_t(blocks));
    stats.insert("anchors", int64_t(anchors));
    stats.insert("bytes", int64_t(bytes));
    stats.insert("characters", int64_t(chars));
    stats.insert("tokenizer", stream.tokenizer);
    stats.insert("tokens_are_bytes", byte_level);
    stats.insert("tokens", int64_t(stream.size()));
    if (byte_level) stats.insert("estimated_model_tokens", int64_t(stream.size() / 4));
    stats.insert("global_tokens", int64_t(stream.budget.global_tokens));
    stats.insert("global_budget", assemble.global_budget);
    stats.insert("global_budget_report", stream.budget.describe());
    stats.insert("parse_seconds", parse_s);
    stats.insert("tokenize_seconds", tok_s);
    root.insert("stats", std::move(stats));
    std::printf("%s\n", json::serialize(json::Value(std::move(root)), 2).c_str());
    return corpus.size() == 0 && !corpus.skipped().empty() ? 1 : 0;
  }

  for (const auto& d : corpus.documents()) {
    std::printf("%s  (%s%s%s, %zu blocks, %zu anchors", d.source.c_str(), ingest::source_format_name(d.format),
                d.language.empty() ? "" : " ", d.language.c_str(), d.blocks.size(), d.outline.size());
    if (d.format == ingest::SourceFormat::pdf) std::printf(", %u pages", d.pages);
    std::printf(")\n");
    for (const auto& n : d.notes) std::printf("  note: %s\n", n.c_str());
    for (ingest::AnchorId a : d.outline.roots()) print_outline(d, a, 0, depth);
  }
  if (!corpus.skipped().empty()) {
    std::printf("\nskipped:\n");
    for (const auto& s : corpus.skipped()) std::printf("  %s: %s\n", s.source.c_str(), s.reason.c_str());
  }
  std::printf("\ndocuments %zu, skipped %zu, blocks %zu, anchors %zu, bytes %zu, characters %zu\n", corpus.size(),
              corpus.skipped().size(), blocks, anchors, bytes, chars);
  if (byte_level)
    std::printf("tokens: no --model given, so counts are byte-level: %zu byte tokens (upper bound), "
                "~%zu model tokens estimated at 4 bytes/token; global %zu byte tokens\n",
                stream.size(), stream.size() / 4, stream.budget.global_tokens);
  else
    std::printf("tokens %zu (%s), global %zu\n", stream.size(), stream.tokenizer.c_str(), stream.budget.global_tokens);
  std::printf("%s\n", stream.budget.describe().c_str());
  std::printf("time: parse %.3f s, render+tokenize %.3f s\n", parse_s, tok_s);
  return corpus.size() == 0 && !corpus.skipped().empty() ? 1 : 0;
}

}  // namespace folio::cli
