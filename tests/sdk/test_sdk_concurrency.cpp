// Several sessions on one engine answering at the same time. Built as its own
// executable so it can run under ThreadSanitizer (-DFOLIO_TSAN=ON) in little
// time: a tiny model, a small corpus, a few tokens per answer.
//
// The answers given concurrently must equal the ones given one after another
// (greedy decoding is deterministic; a race on the KV cache, the backend or the
// sampler would change them), and TSan must report nothing.
#include <doctest/doctest.h>

#include <thread>

#include "tests/sdk/sdk_fixture.hpp"

using namespace folio;

TEST_CASE("sdk concurrency: forks of one session answer in parallel, identical to sequential answers") {
  folio::test::SdkFixture fx;
  const std::string store = (fx.dir / "kv.db").string();
  EngineOptions eo = fx.engine_options(store);
  eo.threads = 2;
  Engine engine(eo);
  Corpus corpus = fx.mixed_corpus(engine);
  Session base = engine.open_session(corpus);

  const std::vector<std::string> questions = {"What is the liability cap?", "Which law governs the agreement?",
                                              "How much notice is needed to terminate?",
                                              "What interest applies to late payments?"};
  AskOptions ao;
  ao.max_tokens = 8;
  ao.sampling.temperature = 0;
  ao.evidence_anchors = 3;

  std::vector<std::string> sequential;
  for (const auto& q : questions) sequential.push_back(base.ask(q, ao).text);

  std::vector<Session> forks;
  for (size_t i = 0; i < questions.size(); ++i) forks.push_back(base.fork());

  std::vector<std::string> parallel(questions.size());
  std::vector<std::string> errors(questions.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < questions.size(); ++i)
    threads.emplace_back([&, i] {
      try {
        AskOptions o = ao;
        std::string streamed;
        o.on_token = [&](std::string_view p) {
          streamed += p;
          return true;
        };
        parallel[i] = forks[i].ask(questions[i], o).text;
        if (streamed != parallel[i]) errors[i] = "streamed text differs";
        // Dropped here, while the base session and the other forks still read
        // the corpus pages it shared with them.
        Session gone = std::move(forks[i]);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  // Meanwhile: another corpus is ingested and a session opened from the store
  // on the same engine, and the base session answers too.
  std::string other_error;
  std::thread opener([&] {
    try {
      Corpus c = fx.mixed_corpus(engine);
      Session s = engine.open_session(c);
      if (s.open_timings().restored_tokens == 0) other_error = "nothing restored";
      if (s.ask(questions[0], ao).text != sequential[0]) other_error = "restored session answered differently";
    } catch (const std::exception& e) {
      other_error = e.what();
    }
  });
  const std::string base_again = base.ask(questions[1], ao).text;
  for (auto& t : threads) t.join();
  opener.join();

  CHECK(base_again == sequential[1]);
  CHECK(other_error.empty());
  for (size_t i = 0; i < questions.size(); ++i) {
    INFO("question " << i);
    CHECK(errors[i].empty());
    CHECK(parallel[i] == sequential[i]);
  }
}

TEST_CASE("sdk concurrency: concurrent asks on one session wait for each other") {
  folio::test::SdkFixture fx;
  Engine engine(fx.engine_options());
  Corpus corpus = fx.mixed_corpus(engine);
  Session s = engine.open_session(corpus);
  AskOptions ao;
  ao.max_tokens = 6;
  ao.sampling.temperature = 0;
  const std::string expected = s.ask("What is the liability cap?", ao).text;
  std::vector<std::string> got(3);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < got.size(); ++i)
    threads.emplace_back([&, i] { got[i] = s.ask("What is the liability cap?", ao).text; });
  for (auto& t : threads) t.join();
  for (const auto& g : got) CHECK(g == expected);
}
