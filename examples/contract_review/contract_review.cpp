// contract_review: reviews a contract with Folio's public C++ API.
//
//   contract_review --model M.gguf [--store kv.db] [SOURCE...]
//
// Ingests the contract and whatever goes with it (call transcripts, code that
// implements its terms), prefills the corpus once (or restores it from the
// store), then asks the standard review questions - termination, liability
// cap, governing law, confidentiality - in parallel on forks of that one
// session, and prints each answer with its citations: locations the answer
// names, checked against the corpus, and the sections the model attended to.
// Without SOURCEs it reviews the bundled sample: a services agreement (PDF
// typeset from sample/master_services_agreement.md at build time), the
// negotiation call (WebVTT) and the invoice checker (Python).
//
// Uses only <folio/folio.hpp>.
#include <folio/folio.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Question {
  const char* topic;
  const char* text;
};

constexpr Question kQuestions[] = {
    {"Termination", "How can each party terminate the agreement, and with how much notice?"},
    {"Liability cap", "What is the cap on each party's liability, and what is excluded from it?"},
    {"Governing law", "Which law governs the agreement and which courts decide disputes?"},
    {"Confidentiality", "What are the confidentiality obligations and how long do they last?"},
};

void usage(std::FILE* out) {
  std::fputs(
      "usage: contract_review --model FILE.gguf [--store FILE] [--ctx N] [-n N] [--json] [SOURCE...]\n"
      "\n"
      "Asks the standard contract-review questions (termination, liability cap, governing law,\n"
      "confidentiality) about the SOURCEs (contract PDF/Markdown, transcripts, code) and prints the\n"
      "answers with citations. Without SOURCEs: the bundled sample contract, call and code.\n",
      out);
}

std::vector<std::string> bundled_sample() {
  return {FOLIO_CONTRACT_SAMPLE_PDF, std::string(FOLIO_CONTRACT_SAMPLE_DIR) + "/negotiation_call.vtt",
          std::string(FOLIO_CONTRACT_SAMPLE_DIR) + "/invoice_check.py"};
}

void print_answer(const Question& q, const folio::Answer& a) {
  std::printf("\n== %s\nQ: %s\nA: %s\n", q.topic, q.text, a.text.empty() ? "(empty answer)" : a.text.c_str());
  size_t refs = 0;
  for (const auto& c : a.citations) {
    if (c.kind != folio::CitationKind::reference) continue;
    if (refs++ == 0) std::puts("   cited in the answer:");
    if (c.resolved)
      std::printf("     %-14s %s\n", c.text.c_str(), c.location.description.c_str());
    else
      std::printf("     %-14s NOT IN THE CORPUS: %s\n", c.text.c_str(), c.problem.c_str());
  }
  if (refs == 0) std::puts("   cited in the answer: nothing (no section, file:line or [time] written)");
  bool header = false;
  for (const auto& c : a.citations) {
    if (c.kind != folio::CitationKind::attention) continue;
    if (!header) std::puts("   where the model looked (attention evidence):");
    header = true;
    std::printf("     %5.1f%%  %s\n", 100.0 * c.weight, c.location.description.c_str());
  }
  std::printf("   [%lld tokens in %.2f s, %s]\n", static_cast<long long>(a.timings.generated_tokens), a.timings.decode_s,
              a.stop_reason.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  folio::EngineOptions eo;
  std::vector<std::string> sources;
  int64_t max_tokens = 48;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "contract_review: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else if (a == "--model") eo.model_path = value();
    else if (a == "--store") eo.store_path = value();
    else if (a == "--ctx") eo.context_budget = std::atoll(value().c_str());
    else if (a == "--threads") eo.threads = std::atoi(value().c_str());
    else if (a == "-n") max_tokens = std::atoll(value().c_str());
    else if (a == "--json") json = true;
    else if (a.size() > 1 && a[0] == '-') {
      std::fprintf(stderr, "contract_review: unknown option %s\n", a.c_str());
      usage(stderr);
      return 2;
    } else sources.push_back(a);
  }
  if (eo.model_path.empty()) {
    usage(stderr);
    return 2;
  }
  if (sources.empty()) sources = bundled_sample();

  try {
    folio::Engine engine(eo);
    const folio::ModelInfo mi = engine.model_info();
    if (!json) {
      std::printf("Contract review with %s (%s, %.1fM parameters)\n", mi.path.c_str(), mi.architecture.c_str(),
                  double(mi.parameters) / 1e6);
      if (mi.random_weights)
        std::puts(
            "\n*** This model has RANDOM WEIGHTS (made by `folio make-tiny` for tests and demos). ***\n"
            "*** Its answers are meaningless text. What is real: ingestion of the PDF, transcript and code, ***\n"
            "*** the KV snapshot store, prefill and decoding, and the citation checks below.              ***");
    }
    folio::Corpus corpus = engine.corpus();
    for (const auto& s : sources) corpus.add_path(s);
    const folio::CorpusStats st = corpus.stats();
    folio::Session session = engine.open_session(corpus);
    const folio::Timings t = session.open_timings();
    if (!json) {
      std::printf("\nCorpus: %zu documents, %llu tokens\n", st.documents.size(),
                  static_cast<unsigned long long>(st.tokens));
      for (const auto& d : st.documents)
        std::printf("  %-60s %-9s %5llu tokens, %3llu anchors%s\n", d.source.c_str(), d.format.c_str(),
                    static_cast<unsigned long long>(d.tokens), static_cast<unsigned long long>(d.anchors),
                    d.pages ? (", " + std::to_string(d.pages) + " pages").c_str() : "");
      for (const auto& s : st.skipped) std::printf("  skipped %s: %s\n", s.source.c_str(), s.reason.c_str());
      if (t.restored_tokens > 0)
        std::printf("KV snapshot: restored %lld of %lld tokens from %s in %.3f s (prefilled only %lld)\n",
                    static_cast<long long>(t.restored_tokens), static_cast<long long>(t.corpus_tokens),
                    eo.store_path.c_str(), t.restore_s, static_cast<long long>(t.prefilled_tokens));
      else
        std::printf("Prefilled %lld tokens in %.2f s%s\n", static_cast<long long>(t.prefilled_tokens), t.prefill_s,
                    eo.store_path.empty() ? "" : (" and saved the snapshot to " + eo.store_path).c_str());
    }

    // One fork per question: the corpus KV is copied, not recomputed, and the
    // four answers are generated at the same time.
    constexpr size_t n = std::size(kQuestions);
    std::vector<folio::Session> forks;
    for (size_t i = 0; i < n; ++i) forks.push_back(session.fork());
    std::vector<folio::Answer> answers(n);
    std::vector<std::string> errors(n);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < n; ++i)
      threads.emplace_back([&, i] {
        try {
          folio::AskOptions ao;
          ao.max_tokens = max_tokens;
          answers[i] = forks[i].ask(kQuestions[i].text, ao);
        } catch (const folio::Exception& e) {
          errors[i] = e.what();
        }
      });
    for (auto& th : threads) th.join();

    int failed = 0;
    if (json) std::fputs("[", stdout);
    for (size_t i = 0; i < n; ++i) {
      if (!errors[i].empty()) {
        std::fprintf(stderr, "contract_review: %s: %s\n", kQuestions[i].topic, errors[i].c_str());
        ++failed;
        continue;
      }
      if (json) std::printf("%s%s", i ? ",\n" : "", answers[i].to_json().c_str());
      else print_answer(kQuestions[i], answers[i]);
    }
    if (json) std::fputs("]\n", stdout);
    else if (mi.random_weights)
      std::puts("\n(Reminder: random-weight model - the answers above are not a legal review.)");
    return failed ? 1 : 0;
  } catch (const folio::Exception& e) {
    std::fprintf(stderr, "contract_review: %s\n", e.what());
    return 1;
  }
}
