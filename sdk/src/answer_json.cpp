// Answer::to_json: one JSON object with the text, citations and timings.
#include <cmath>
#include <cstdio>

#include "runtime/common/json.hpp"
#include "sdk/src/internal.hpp"

namespace folio {

namespace {

class Writer {
 public:
  std::string out;
  void key(std::string_view k) {
    comma();
    json::append_quoted(out, k);
    out += ':';
    first_ = true;  // the value follows without a comma
    after_key_ = true;
  }
  void str(std::string_view v) {
    comma();
    json::append_quoted(out, v);
  }
  void num(double v) {
    comma();
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", std::isfinite(v) ? v : 0.0);
    out += buf;
  }
  void integer(int64_t v) {
    comma();
    out += std::to_string(v);
  }
  void boolean(bool v) {
    comma();
    out += v ? "true" : "false";
  }
  void open(char c) {
    comma();
    out += c;
    first_ = true;
  }
  void close(char c) {
    out += c;
    first_ = false;
  }

 private:
  void comma() {
    if (after_key_) {
      after_key_ = false;
      first_ = false;
      return;
    }
    if (!first_) out += ',';
    first_ = false;
  }
  bool first_ = true, after_key_ = false;
};

void write_location(Writer& w, const SourceLocation& l) {
  w.open('{');
  w.key("source"), w.str(l.source);
  w.key("anchor"), w.str(l.anchor);
  w.key("anchor_path"), w.str(l.anchor_path);
  if (l.page) w.key("page"), w.integer(l.page);
  if (l.line_begin) {
    w.key("line_begin"), w.integer(l.line_begin);
    w.key("line_end"), w.integer(l.line_end);
  }
  if (l.start_ms >= 0) {
    w.key("start_ms"), w.integer(l.start_ms);
    w.key("end_ms"), w.integer(l.end_ms);
    w.key("speaker"), w.str(l.speaker);
  }
  w.key("description"), w.str(l.description);
  w.close('}');
}

}  // namespace

std::string Answer::to_json() const {
  Writer w;
  w.open('{');
  w.key("question"), w.str(question);
  w.key("text"), w.str(text);
  w.key("stop_reason"), w.str(stop_reason);
  w.key("random_weights"), w.boolean(random_weights);
  w.key("citations");
  w.open('[');
  for (const Citation& c : citations) {
    w.open('{');
    w.key("kind"), w.str(c.kind == CitationKind::reference ? "reference" : "attention");
    w.key("text"), w.str(c.text);
    if (c.kind == CitationKind::reference) w.key("answer_offset"), w.integer(int64_t(c.answer_offset));
    w.key("resolved"), w.boolean(c.resolved);
    if (!c.problem.empty()) w.key("problem"), w.str(c.problem);
    if (c.kind == CitationKind::attention) w.key("weight"), w.num(c.weight);
    if (c.resolved) w.key("location"), write_location(w, c.location);
    w.close('}');
  }
  w.close(']');
  w.key("evidence_note"), w.str(evidence_note);
  const Timings& t = timings;
  w.key("timings");
  w.open('{');
  w.key("ingest_s"), w.num(t.ingest_s);
  w.key("assemble_s"), w.num(t.assemble_s);
  w.key("restore_s"), w.num(t.restore_s);
  w.key("prefill_s"), w.num(t.prefill_s);
  w.key("save_s"), w.num(t.save_s);
  w.key("prompt_s"), w.num(t.prompt_s);
  w.key("decode_s"), w.num(t.decode_s);
  w.key("corpus_tokens"), w.integer(t.corpus_tokens);
  w.key("restored_tokens"), w.integer(t.restored_tokens);
  w.key("prefilled_tokens"), w.integer(t.prefilled_tokens);
  w.key("prompt_tokens"), w.integer(t.prompt_tokens);
  w.key("generated_tokens"), w.integer(t.generated_tokens);
  w.key("decode_tokens_per_s"), w.num(t.decode_tokens_per_s);
  w.close('}');
  w.close('}');
  return std::move(w.out);
}

}  // namespace folio
