// The C++ API end to end on a tiny random-weight model and a mixed corpus:
// answers, streaming, citations, snapshots, forks, bad input, limits and
// cancellation.
#include <doctest/doctest.h>

#include <thread>

#include "runtime/common/json.hpp"
#include "tests/sdk/sdk_fixture.hpp"

using namespace folio;
using folio::test::SdkFixture;

namespace {

AskOptions greedy(int64_t n) {
  AskOptions o;
  o.max_tokens = n;
  o.sampling.temperature = 0;
  return o;
}

bool is_one_of(const std::string& s, std::initializer_list<std::string> v) {
  for (const auto& x : v)
    if (s == x) return true;
  return false;
}

}  // namespace

TEST_CASE("sdk: answers a question over a mixed corpus with streaming, timings and attention evidence") {
  SdkFixture fx;
  Engine engine(fx.engine_options());
  const ModelInfo mi = engine.model_info();
  CHECK(mi.architecture == "qwen3moe");
  CHECK(mi.random_weights);  // make-tiny marks its files
  Corpus corpus = fx.mixed_corpus(engine);
  const CorpusStats st = corpus.stats();
  REQUIRE(st.documents.size() == 3);
  CHECK(st.documents[0].format == "markdown");
  CHECK(st.documents[1].format == "webvtt");
  CHECK(st.documents[2].format == "code");
  CHECK(st.skipped.empty());
  CHECK(st.tokens > 500);

  Session session = engine.open_session(corpus);
  const Timings ot = session.open_timings();
  CHECK(ot.restored_tokens == 0);
  CHECK(ot.prefilled_tokens == ot.corpus_tokens);
  CHECK(ot.corpus_tokens > int64_t(st.tokens));  // instructions come first

  std::string streamed;
  AskOptions ao = greedy(16);
  ao.on_token = [&](std::string_view piece) {
    streamed += piece;
    return true;
  };
  const Answer a = session.ask("What is the liability cap?", ao);
  CHECK(a.random_weights);
  CHECK(streamed == a.text);
  CHECK(is_one_of(a.stop_reason, {"length", "eos"}));
  CHECK(a.timings.generated_tokens <= 16);
  CHECK(a.timings.prompt_tokens > 5);
  CHECK(a.timings.decode_s >= 0);

  // Attention evidence: anchors of the corpus, most attended first.
  std::vector<const Citation*> ev;
  for (const auto& c : a.citations)
    if (c.kind == CitationKind::attention) ev.push_back(&c);
  REQUIRE(ev.size() == 5);
  double sum = 0;
  for (size_t i = 0; i < ev.size(); ++i) {
    CHECK(ev[i]->resolved);
    CHECK(ev[i]->weight > 0);
    if (i) CHECK(ev[i]->weight <= ev[i - 1]->weight);
    sum += ev[i]->weight;
    const std::string& src = ev[i]->location.source;
    CHECK((src == fx.contract.string() || src == fx.call.string() || src == fx.code.string()));
    CHECK(!ev[i]->location.description.empty());
  }
  CHECK(sum <= 1.0 + 1e-9);
  CHECK(a.evidence_note.find("attention") != std::string::npos);

  // JSON carries the same.
  const json::Value j = json::parse(a.to_json());
  REQUIRE(j.is_object());
  CHECK(j["question"].as_string() == "What is the liability cap?");
  CHECK(j["citations"].as_array().size() == a.citations.size());
  CHECK(j["timings"]["generated_tokens"].as_int64() == a.timings.generated_tokens);
  CHECK(j["timings"]["corpus_tokens"].as_int64() == ot.corpus_tokens);
  CHECK(j["random_weights"].as_bool());

  // Turning evidence off.
  AskOptions off = greedy(4);
  off.evidence_anchors = 0;
  const Answer b = session.ask("Which law governs?", off);
  for (const auto& c : b.citations) CHECK(c.kind == CitationKind::reference);
  CHECK(b.evidence_note == "off");
}

TEST_CASE("sdk: the same question gives the same answer from a session, a fork and a restored snapshot") {
  SdkFixture fx;
  const std::string store = (fx.dir / "kv.db").string();
  Engine engine(fx.engine_options(store));
  Corpus corpus = fx.mixed_corpus(engine);
  Session first = engine.open_session(corpus);
  CHECK(first.open_timings().restored_tokens == 0);
  const Answer a = first.ask("How can the agreement be terminated?", greedy(12));

  // Asking again on the same session: the question was cut off, the corpus KV reused.
  const Answer again = first.ask("How can the agreement be terminated?", greedy(12));
  CHECK(again.text == a.text);

  Session fork = first.fork();
  const Answer f = fork.ask("How can the agreement be terminated?", greedy(12));
  CHECK(f.text == a.text);

  // A second engine (as another process would) restores the corpus from the store.
  Engine engine2(fx.engine_options(store));
  Corpus corpus2 = fx.mixed_corpus(engine2);
  Session restored = engine2.open_session(corpus2);
  const Timings t = restored.open_timings();
  CHECK(t.restored_tokens > 0);
  CHECK(t.restored_tokens % 64 == 0);
  CHECK(t.restored_tokens + t.prefilled_tokens == t.corpus_tokens);
  CHECK(t.corpus_tokens - t.restored_tokens < 64 + 1);
  const Answer r = restored.ask("How can the agreement be terminated?", greedy(12));
  CHECK(r.text == a.text);
  CHECK(r.timings.restored_tokens == t.restored_tokens);

  // Identical K/V give identical attention evidence.
  std::vector<double> wa, wr;
  for (const auto& c : a.citations)
    if (c.kind == CitationKind::attention) wa.push_back(c.weight);
  for (const auto& c : r.citations)
    if (c.kind == CitationKind::attention) wr.push_back(c.weight);
  REQUIRE(wa.size() == wr.size());
  for (size_t i = 0; i < wa.size(); ++i) CHECK(wr[i] == doctest::Approx(wa[i]).epsilon(1e-9));
}

TEST_CASE("sdk: forks share the corpus KV, answer identically and pay only for their own tokens") {
  SdkFixture fx;
  Engine engine(fx.engine_options());
  Corpus corpus = fx.mixed_corpus(engine);
  auto base = std::make_unique<Session>(engine.open_session(corpus));
  const int64_t corpus_tokens = base->open_timings().corpus_tokens;
  const int64_t blocks = (corpus_tokens + 63) / 64;
  REQUIRE(corpus_tokens % 64 != 0);  // the partial last block is the one a fork copies
  AskOptions ao = greedy(10);
  ao.evidence_anchors = 4;
  const Answer want1 = base->ask("What is the liability cap?", ao);
  const Answer want2 = base->ask("Which law governs the agreement?", ao);
  const KvMemory m0 = base->kv_memory();
  REQUIRE(m0.bytes > 0);
  CHECK(m0.family_bytes == m0.bytes);  // the asks were cut off again
  CHECK(m0.shared_bytes == 0);
  const uint64_t block = m0.bytes / uint64_t(blocks);  // one 64-token block of every layer
  REQUIRE(block * uint64_t(blocks) == m0.bytes);

  std::vector<Session> forks;
  for (int i = 0; i < 6; ++i) forks.push_back(base->fork());
  // Six forks cost six copies of the partial block, not six corpora.
  const KvMemory m6 = base->kv_memory();
  CHECK(m6.family_bytes == m0.bytes + 6 * block);
  CHECK(m6.shared_bytes == m0.bytes - block);
  const KvMemory f0 = forks[0].kv_memory();
  CHECK(f0.bytes == m0.bytes);
  CHECK(f0.bytes - f0.shared_bytes == block);
  CHECK(f0.family_bytes == m6.family_bytes);

  // All forks answer at the same time, each appending its question and answer
  // after the shared corpus; none may see another's tokens: the same answers
  // and the same attention evidence as the base session, bit for bit.
  std::vector<Answer> got(forks.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < forks.size(); ++i)
    threads.emplace_back([&, i] { got[i] = forks[i].ask(i % 2 ? want1.question : want2.question, ao); });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < forks.size(); ++i) {
    const Answer& want = i % 2 ? want1 : want2;
    INFO("fork " << i);
    CHECK(got[i].text == want.text);
    REQUIRE(got[i].citations.size() == want.citations.size());
    for (size_t c = 0; c < got[i].citations.size(); ++c)
      CHECK(got[i].citations[c].weight == want.citations[c].weight);
  }
  CHECK(base->kv_memory().family_bytes == m6.family_bytes);  // answers were cut off again

  // The shared blocks outlive the session they came from and go with the last fork.
  base.reset();
  CHECK(forks[1].kv_memory().family_bytes == m0.bytes + 5 * block);  // base's private block went
  while (forks.size() > 1) forks.pop_back();
  const KvMemory last = forks[0].kv_memory();
  CHECK(last.shared_bytes == 0);
  CHECK(last.family_bytes == last.bytes);
  CHECK(last.bytes == m0.bytes);
}

TEST_CASE("sdk: source locations written in text resolve to real anchors or are flagged") {
  SdkFixture fx;
  Engine engine(fx.engine_options());
  Corpus corpus = fx.mixed_corpus(engine);
  const std::string text =
      "Termination is in \xC2\xA7" "3.2 and payment in Section 2.1; interest is computed in invoice_check.py:20 "
      "and discussed at [00:00:08]. Not real: \xC2\xA7" "14.9, invoice_check.py:400, nothere.py:3, [00:59:00].";
  const std::vector<Citation> refs = corpus.resolve_references(text);
  REQUIRE(refs.size() == 8);
  for (size_t i = 1; i < refs.size(); ++i) CHECK(refs[i].answer_offset > refs[i - 1].answer_offset);
  for (const auto& r : refs) {
    CHECK(r.kind == CitationKind::reference);
    CHECK(text.compare(r.answer_offset, r.text.size(), r.text) == 0);
  }

  CHECK(refs[0].text == "\xC2\xA7" "3.2");
  CHECK(refs[0].resolved);
  CHECK(refs[0].location.source == fx.contract.string());
  CHECK(refs[0].location.anchor == "3.2 Termination for Convenience");
  CHECK(refs[0].location.line_begin == 25);

  CHECK(refs[1].text == "Section 2.1");
  CHECK(refs[1].resolved);  // a numbered paragraph, not a heading
  CHECK(refs[1].location.source == fx.contract.string());
  CHECK(refs[1].location.anchor == "2. Services");

  CHECK(refs[2].resolved);
  CHECK(refs[2].location.source == fx.code.string());
  CHECK(refs[2].location.line_begin == 20);
  CHECK(refs[2].location.anchor_path.find("late_interest") != std::string::npos);

  CHECK(refs[3].resolved);
  CHECK(refs[3].location.speaker == "Tomas Berg");
  CHECK(refs[3].location.start_ms == 7000);

  for (size_t i = 4; i < 8; ++i) {
    CHECK_FALSE(refs[i].resolved);
    CHECK(!refs[i].problem.empty());
    CHECK(refs[i].location.source.empty());  // nothing invented
  }
  CHECK(refs[4].problem.find("14.9") != std::string::npos);
  CHECK(refs[5].problem.find("lines") != std::string::npos);
  CHECK(refs[6].problem.find("nothere.py") != std::string::npos);
  CHECK(refs[7].problem.find("00:59:00") != std::string::npos);
}

TEST_CASE("sdk: a corpus larger than the context budget is refused with the numbers") {
  SdkFixture fx;
  EngineOptions eo = fx.engine_options();
  eo.context_budget = 1024;
  Engine engine(eo);
  Corpus corpus = fx.mixed_corpus(engine);
  const uint64_t tokens = corpus.stats().tokens;
  REQUIRE(tokens > 1024);
  try {
    (void)engine.open_session(corpus);
    FAIL("expected context_too_large");
  } catch (const Exception& e) {
    CHECK(e.status() == Status::context_too_large);
    const std::string m = e.what();
    CHECK(m.find("corpus too large") != std::string::npos);
    std::string count = std::to_string(tokens);  // the corpus size, with thousands separators
    for (int i = int(count.size()) - 3; i > 0; i -= 3) count.insert(size_t(i), ",");
    CHECK(m.find(count + " tokens") != std::string::npos);
    CHECK(m.find("1,024") != std::string::npos);        // the budget
    CHECK(m.find("fit") != std::string::npos);          // what fits
    CHECK(m.find("raise the context budget") != std::string::npos);
    CHECK(m.find(fx.contract.string()) != std::string::npos);  // the largest document is named
  }
  // A budget above the model's context is an error at once.
  EngineOptions too_big = fx.engine_options();
  too_big.context_budget = 1 << 20;
  CHECK_THROWS_AS(Engine{too_big}, Exception);
}

TEST_CASE("sdk: wrong model files give clear errors") {
  SdkFixture fx;
  EngineOptions eo = fx.engine_options();
  eo.model_path = (fx.dir / "missing.gguf").string();
  try {
    Engine e(eo);
    FAIL("expected an error");
  } catch (const Exception& e) {
    CHECK(e.status() == Status::io);
    CHECK(std::string(e.what()).find("missing.gguf") != std::string::npos);
  }
  folio::test::write_file(fx.dir / "notes.gguf", "these are not the weights you are looking for\n");
  eo.model_path = (fx.dir / "notes.gguf").string();
  try {
    Engine e(eo);
    FAIL("expected an error");
  } catch (const Exception& e) {
    CHECK(e.status() == Status::format);
    CHECK(std::string(e.what()).find("notes.gguf") != std::string::npos);
  }
  eo.model_path = fx.contract.string();  // a Markdown file
  try {
    Engine e(eo);
    FAIL("expected an error");
  } catch (const Exception& e) {
    CHECK(e.status() == Status::format);
    CHECK(std::string(e.what()).find("master_services_agreement.md") != std::string::npos);
  }
  eo.model_path = "";
  try {
    Engine e(eo);
    FAIL("expected an error");
  } catch (const Exception& e) {
    CHECK(e.status() == Status::invalid_argument);
    CHECK(std::string(e.what()).find("make-tiny") != std::string::npos);  // says how to get one
  }
}

TEST_CASE("sdk: the backend option: cpu, auto falls back with a reason, cuda without a GPU is a clear error") {
  SdkFixture fx;
  EngineOptions o = fx.engine_options();
  o.backend = "tpu";
  try {
    Engine e(o);
    FAIL("an unknown backend was accepted");
  } catch (const Exception& e) {
    CHECK(e.status() == Status::invalid_argument);
    CHECK(std::string(e.what()).find("\"cpu\", \"cuda\" or \"auto\"") != std::string::npos);
  }
  o.backend = "auto";
  Engine automatic(o);
  const ModelInfo mi = automatic.model_info();
  if (mi.backend == "cpu") {
    CHECK(!mi.backend_note.empty());  // says why the GPU was not used
    Corpus corpus = fx.mixed_corpus(automatic);
    Session s = automatic.open_session(corpus);
    CHECK(s.ask("What is the liability cap?", greedy(3)).timings.generated_tokens > 0);
  } else {
    CHECK(mi.backend == "cuda");
    CHECK(mi.backend_note.empty());
  }
  o.backend = "cuda";
  try {
    Engine e(o);
    CHECK(e.model_info().backend == "cuda");
  } catch (const Exception& e) {
    CHECK(mi.backend == "cpu");  // only where "auto" found no GPU
    CHECK(e.status() == Status::unsupported);
    CHECK(std::string(e.what()).find("backend \"cuda\"") != std::string::npos);
  }
}

TEST_CASE("sdk: unsupported and missing sources are skipped with a reason, or refused when strict") {
  SdkFixture fx;
  std::string binary(4096, '\0');
  std::mt19937 rng(5);
  for (auto& c : binary) c = char(rng());
  binary[10] = '\0';
  folio::test::write_file(fx.dir / "image.bin", binary);
  Engine engine(fx.engine_options());
  {
    Corpus c = engine.corpus();
    c.add_path(fx.contract.string());
    c.add_path((fx.dir / "image.bin").string());
    c.add_path((fx.dir / "absent.pdf").string());
    const CorpusStats st = c.stats();
    CHECK(st.documents.size() == 1);
    REQUIRE(st.skipped.size() == 2);
    CHECK(st.skipped[0].source.find("image.bin") != std::string::npos);
    CHECK(!st.skipped[0].reason.empty());
    CHECK(st.skipped[1].reason == "no such file or directory");
  }
  {
    CorpusOptions co;
    co.strict = true;
    Corpus c = engine.corpus(co);
    c.add_path((fx.dir / "image.bin").string());
    try {
      c.wait();
      FAIL("expected an error");
    } catch (const Exception& e) {
      CHECK(e.status() == Status::unsupported);
      CHECK(std::string(e.what()).find("image.bin") != std::string::npos);
    }
  }
  {
    Corpus c = engine.corpus();
    CHECK_THROWS_AS(c.add_text("scan.pdf", "%PDF-1.4"), Exception);
    CHECK_THROWS_AS(c.add_text("notes", "text", "docx"), Exception);
    try {
      (void)engine.open_session(c);  // nothing added
      FAIL("expected an error");
    } catch (const Exception& e) {
      CHECK(e.status() == Status::invalid_argument);
      CHECK(std::string(e.what()).find("corpus is empty") != std::string::npos);
    }
  }
  {
    // Text given in memory is a source like any other.
    Corpus c = engine.corpus();
    c.add_text("memo.md", "# Memo\n\n## 1. Scope\n\nThe memo covers scope.\n");
    const auto refs = c.resolve_references("see \xC2\xA7" "1");
    REQUIRE(refs.size() == 1);
    CHECK(refs[0].resolved);
    CHECK(refs[0].location.source == "memo.md");
  }
}

TEST_CASE("sdk: cancellation of ingestion, prefill and generation") {
  SdkFixture fx;
  Engine engine(fx.engine_options());
  {
    Corpus c = engine.corpus();
    c.cancel();
    CHECK_THROWS_AS(c.add_path(fx.contract.string()), Exception);
    try {
      c.wait();
      FAIL("expected cancelled");
    } catch (const Exception& e) {
      CHECK(e.status() == Status::cancelled);
    }
  }
  {
    CorpusOptions co;
    co.threads = 1;
    co.progress = [](const Progress& p) { return p.done < 1; };  // cancel after the first file
    Corpus c = engine.corpus(co);
    c.add_path(fx.contract.string());
    c.add_path(fx.call.string());
    c.add_path(fx.code.string());
    try {
      c.wait();
      FAIL("expected cancelled");
    } catch (const Exception& e) {
      CHECK(e.status() == Status::cancelled);
    }
  }
  Corpus corpus = fx.mixed_corpus(engine);
  {
    SessionOptions so;
    int calls = 0;
    so.progress = [&](const Progress& p) {
      ++calls;
      return p.stage != "prefill";  // cancel at the first prefill chunk
    };
    try {
      (void)engine.open_session(corpus, so);
      FAIL("expected cancelled");
    } catch (const Exception& e) {
      CHECK(e.status() == Status::cancelled);
    }
    CHECK(calls == 1);
  }
  Session session = engine.open_session(corpus);
  {
    // The token callback stops generation.
    int pieces = 0;
    AskOptions ao = greedy(200);
    ao.on_token = [&](std::string_view) { return ++pieces < 3; };
    const Answer a = session.ask("What is the liability cap?", ao);
    CHECK(a.stop_reason == "cancelled");
    CHECK(pieces == 3);
    CHECK(a.timings.generated_tokens < 200);
  }
  {
    // Session::cancel from another thread while the answer is generated.
    std::atomic<bool> started{false};
    AskOptions ao = greedy(1000);
    ao.on_token = [&](std::string_view) {
      started = true;
      return true;
    };
    std::thread canceller([&] {
      while (!started) std::this_thread::yield();
      session.cancel();
    });
    const Answer a = session.ask("What is the liability cap?", ao);
    canceller.join();
    CHECK(a.stop_reason == "cancelled");
    CHECK(a.timings.generated_tokens < 1000);
  }
  // The session is still usable afterwards.
  const Answer after = session.ask("Which law governs?", greedy(4));
  CHECK(is_one_of(after.stop_reason, {"length", "eos"}));
}

TEST_CASE("sdk: conversation history is kept when asked and forgotten on reset") {
  SdkFixture fx;
  Engine engine(fx.engine_options());
  Corpus corpus = fx.mixed_corpus(engine);
  Session s = engine.open_session(corpus);
  AskOptions ao = greedy(6);
  ao.remember = true;
  const Answer a1 = s.ask("What is the liability cap?", ao);
  const Answer a2 = s.ask("And the governing law?", ao);
  CHECK(a2.timings.prompt_tokens > a1.timings.prompt_tokens);  // the first exchange is replayed
  s.reset();
  const Answer a3 = s.ask("What is the liability cap?", ao);
  CHECK(a3.timings.prompt_tokens == a1.timings.prompt_tokens);
  CHECK(a3.text == a1.text);
}
