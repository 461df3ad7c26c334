// Session: a corpus prefilled (or restored from the store) once, then any
// number of questions. Each question is appended after the corpus, answered,
// and cut off again (KV truncation), so the corpus KV is reused, not recomputed.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "runtime/attention/config.hpp"
#include "runtime/backend/cpu/cpu_kv_cache.hpp"
#include "runtime/common/error.hpp"
#include "runtime/model/generate.hpp"
#include "runtime/sampling/sampler.hpp"
#include "runtime/sampling/stop.hpp"
#include "sdk/src/evidence.hpp"
#include "sdk/src/internal.hpp"

namespace folio {

namespace detail {

namespace {

using clock = std::chrono::steady_clock;
double since(clock::time_point t0) { return std::chrono::duration<double>(clock::now() - t0).count(); }

constexpr const char* kDefaultSystemPrompt =
    "You answer questions about the documents below, using only what they say. "
    "Cite every claim with its location: section numbers like \xC2\xA7" "12.2, source files with lines like "
    "src/a.py:120, transcript times like [00:14:03], PDF pages like p. 3.";

attn::SparseConfig sparse_config(const SessionOptions& o) {
  attn::SparseConfig c;
  switch (o.sparse) {
    case SparsePreset::dense: c = attn::preset_dense(); break;
    case SparsePreset::balanced: c = attn::preset_balanced(); break;
    case SparsePreset::fast: c = attn::preset_fast(); break;
  }
  if (o.window_tokens < 0 || o.topk_blocks < 0 || o.sink_blocks < 0)
    fail(Errc::invalid_argument, "sparse overrides must not be negative");
  if (o.window_tokens > 0) c.window_tokens = o.window_tokens;
  if (o.topk_blocks > 0) c.topk_blocks = o.topk_blocks;
  if (o.sink_blocks > 0) c.sink_blocks = o.sink_blocks;
  attn::validate(c);
  return c;
}

void append(std::vector<int32_t>& out, const std::vector<int32_t>& ids) { out.insert(out.end(), ids.begin(), ids.end()); }

std::string thousands(int64_t n) {
  std::string s = std::to_string(n);
  for (int i = int(s.size()) - 3; i > (n < 0 ? 1 : 0); i -= 3) s.insert(size_t(i), ",");
  return s;
}

}  // namespace

struct Turn {
  std::string question, answer;
};

struct SessionImpl {
  std::shared_ptr<EngineImpl> engine;
  std::shared_ptr<const CorpusView> view;
  SessionOptions options;
  std::optional<attn::SparseConfig> sparse;
  int64_t budget = 0;
  // Instructions + corpus: the part every question shares (and the store keys).
  std::shared_ptr<const std::vector<int32_t>> prefix;
  std::shared_ptr<const std::vector<uint8_t>> prefix_global;
  int64_t header_tokens = 0;  // instruction tokens before the corpus
  std::unique_ptr<model::Session> ms;
  Timings open;

  std::mutex ask_mutex;  // one ask (or fork copy) at a time
  std::atomic<bool> cancel_flag{false};
  std::vector<Turn> history;

  int64_t corpus_begin() const { return header_tokens; }
  int64_t corpus_end() const { return int64_t(prefix->size()); }

  std::unique_ptr<model::Session> make_model_session() const {
    model::SessionOptions so(budget, 512, sparse);
    auto s = std::make_unique<model::Session>(*engine->model, so);
    std::vector<int32_t> globals;
    for (size_t i = 0; i < prefix_global->size(); ++i)
      if ((*prefix_global)[i]) globals.push_back(int32_t(i));
    s->set_global_positions(std::move(globals));
    return s;
  }

  // Runs `tokens` through the model in chunks, one backend lock per chunk so
  // other sessions' steps interleave. Returns the last logits.
  std::vector<float> prefill(std::span<const int32_t> tokens, const ProgressFn& progress, const char* stage) {
    std::vector<float> logits;
    const size_t chunk = 512;
    for (size_t i = 0; i < tokens.size(); i += chunk) {
      if (cancel_flag) fail(Errc::cancelled, std::string(stage) + " cancelled");
      const size_t n = std::min(chunk, tokens.size() - i);
      {
        std::lock_guard lock(engine->forward_mutex);
        const auto l = ms->prefill(tokens.subspan(i, n));
        if (i + n == tokens.size()) logits.assign(l.begin(), l.end());
      }
      if (progress && !progress(Progress{stage, i + n, tokens.size(), ""})) {
        cancel_flag = true;
        fail(Errc::cancelled, std::string(stage) + " cancelled");
      }
    }
    return logits;
  }

  void prepare(const std::shared_ptr<const CorpusView>& v) {
    view = v;
    const tok::Tokenizer& tk = engine->tok();
    auto pre = std::make_shared<std::vector<int32_t>>();
    append(*pre, tk.encode_with_bos("<|im_start|>system\n", true));
    append(*pre, tk.encode(options.system_prompt.empty() ? kDefaultSystemPrompt : options.system_prompt, false));
    append(*pre, tk.encode("\n\n", false));
    header_tokens = int64_t(pre->size());
    append(*pre, view->stream.tokens);
    auto glob = std::make_shared<std::vector<uint8_t>>(size_t(header_tokens), uint8_t(0));
    glob->insert(glob->end(), view->stream.global.begin(), view->stream.global.end());
    prefix = std::move(pre);
    prefix_global = std::move(glob);

    budget = engine->info.context_budget;
    if (options.reserve_tokens < 16) fail(Errc::invalid_argument, "reserve_tokens must be at least 16");
    const int64_t need = int64_t(prefix->size()) + options.reserve_tokens;
    if (need > budget) {
      const int64_t fits = std::max<int64_t>(0, budget - header_tokens - options.reserve_tokens);
      // Name the largest documents: the ones worth removing or splitting.
      std::vector<size_t> order(view->stats.documents.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return view->stats.documents[a].tokens > view->stats.documents[b].tokens;
      });
      std::string largest;
      for (size_t i = 0; i < std::min<size_t>(3, order.size()); ++i)
        largest += (i ? ", " : "") + view->stats.documents[order[i]].source + " (" +
                   thousands(int64_t(view->stats.documents[order[i]].tokens)) + ")";
      std::string msg = "corpus too large: " + thousands(int64_t(view->stream.size())) + " tokens in " +
                        std::to_string(view->stats.documents.size()) + " document(s), plus " +
                        thousands(header_tokens) + " of instructions and " + thousands(options.reserve_tokens) +
                        " reserved for the question and answer, but the context budget is " + thousands(budget) +
                        " tokens: at most " + thousands(fits) + " corpus tokens fit. Largest documents: " + largest +
                        ". Remove or split sources";
      if (budget < engine->info.context_length)
        msg += ", or raise the context budget (the model supports " + thousands(engine->info.context_length) + ")";
      msg += ".";
      throw Exception(Status::context_too_large, msg);
    }
    if (options.reserve_tokens > budget) fail(Errc::invalid_argument, "reserve_tokens exceeds the context budget");
    sparse = sparse_config(options);
  }

  void open_fresh() {
    const auto& st = view->stats;
    open.ingest_s = st.ingest_s;
    open.assemble_s = st.assemble_s;
    open.corpus_tokens = int64_t(prefix->size());
    ms = make_model_session();
    size_t restored = 0;
    store::Store* st_ = engine->store.get();
    if (st_) {
      const auto t0 = clock::now();
      if (options.progress) options.progress(Progress{"restore", 0, prefix->size(), ""});
      restored = engine->restore_session(*ms, *prefix, *prefix_global);
      open.restore_s = since(t0);
    }
    open.restored_tokens = int64_t(restored);
    const auto t1 = clock::now();
    const std::span<const int32_t> rest(prefix->data() + restored, prefix->size() - restored);
    if (!rest.empty()) prefill(rest, options.progress, "prefill");
    open.prefill_s = since(t1);
    open.prefilled_tokens = int64_t(rest.size());
    if (st_ && prefix->size() / kv::kBlockTokens > restored / kv::kBlockTokens) {
      const auto t2 = clock::now();
      try {
        std::string label = std::to_string(view->stats.documents.size()) + " documents: " +
                            view->stats.documents.front().source;
        engine->save_session(*ms, *prefix, *prefix_global, std::move(label));
      } catch (const Error& e) {
        // The answer does not depend on the snapshot; say why it was not kept.
        std::fprintf(stderr, "folio: snapshot not saved: %s\n", e.what());
      }
      open.save_s = since(t2);
    }
  }

  // A new session over the same corpus KV. The corpus blocks are shared with
  // this session, not copied (model::Session::fork_cache_from); only the
  // partial last block is copied, and each side appends its own questions.
  std::unique_ptr<SessionImpl> fork() {
    std::lock_guard lock(ask_mutex);
    auto f = std::make_unique<SessionImpl>();
    f->engine = engine;
    f->view = view;
    f->options = options;
    f->sparse = sparse;
    f->budget = budget;
    f->prefix = prefix;
    f->prefix_global = prefix_global;
    f->header_tokens = header_tokens;
    f->open = open;
    f->history = history;
    f->ms = make_model_session();
    // Between asks this session holds exactly the corpus (ask truncates back).
    if (!f->ms->fork_cache_from(*ms)) f->prefill(*prefix, {}, "prefill");  // backend cannot fork: recompute
    return f;
  }

  std::vector<int32_t> question_tokens(std::string_view question) const {
    const tok::Tokenizer& tk = engine->tok();
    std::vector<int32_t> t = tk.encode("<|im_end|>\n", true);
    auto turn = [&](std::string_view q, const std::string* a) {
      append(t, tk.encode("<|im_start|>user\n", true));
      append(t, tk.encode(q, false));  // user text never becomes control tokens
      append(t, tk.encode("<|im_end|>\n<|im_start|>assistant\n", true));
      if (a) {
        append(t, tk.encode(*a, false));
        append(t, tk.encode("<|im_end|>\n", true));
      } else {
        append(t, tk.encode("<think>\n\n</think>\n\n", true));
      }
    };
    for (const Turn& h : history) turn(h.question, &h.answer);
    turn(question, nullptr);
    return t;
  }

  Answer ask(std::string_view question, const AskOptions& o) {
    std::lock_guard lock(ask_mutex);
    cancel_flag = false;
    if (question.empty()) fail(Errc::invalid_argument, "ask: empty question");
    if (o.max_tokens < 1) fail(Errc::invalid_argument, "ask: max_tokens must be at least 1");
    if (o.evidence_anchors < 0) fail(Errc::invalid_argument, "ask: evidence_anchors must not be negative");
    Answer ans;
    ans.question = std::string(question);
    ans.random_weights = engine->info.random_weights;
    ans.timings = open;
    const tok::Tokenizer& tk = engine->tok();
    const std::vector<int32_t> tail = question_tokens(question);
    const int64_t base = ms->n_past();
    if (base + int64_t(tail.size()) + 1 > ms->capacity())
      throw Exception(Status::context_too_large,
                      "question too long: " + thousands(int64_t(tail.size())) + " tokens (with history) after a " +
                          thousands(base) + "-token corpus exceed the context budget of " +
                          thousands(ms->capacity()) + "; shorten it, reset() the conversation or raise the budget");

    // Attention evidence: the queries of the last prompt token and of every
    // generated token, measured against the corpus keys.
    std::unique_ptr<EvidenceMeter> meter;
    if (o.evidence_anchors > 0) {
      auto* cpu_cache = dynamic_cast<cpu::CpuKvCache*>(&ms->kv_cache());
      backend::Backend& be = engine->model->backend();
      const int64_t from = base + int64_t(tail.size()) - 1;
      if (cpu_cache) {
        meter = std::make_unique<EvidenceMeter>(engine->model->hparams(), cpu_cache->paged(), corpus_begin(),
                                                corpus_end(), from);
      } else {  // the meter's buffer lives in the backend: one backend call at a time
        std::lock_guard lock(engine->forward_mutex);
        meter = std::make_unique<EvidenceMeter>(engine->model->hparams(), be, ms->kv_cache(), corpus_begin(),
                                                corpus_end(), from);
      }
      ms->set_query_observer([m = meter.get(), be = &be](int layer, const backend::Act& q, int64_t pos0) {
        m->observe(*be, layer, q, pos0);
      });
      ans.evidence_note = kEvidenceNote;
    } else {
      ans.evidence_note = "off";
    }
    struct ObserverReset {
      model::Session* s;
      ~ObserverReset() { s->set_query_observer({}); }
    } observer_reset{ms.get()};
    struct Truncate {  // whatever happens, the session returns to the bare corpus
      SessionImpl* self;
      int64_t n;
      ~Truncate() {
        try {
          self->ms->truncate(n);
        } catch (...) {
        }
      }
    } truncate_back{this, base};

    sampling::SamplerParams sp;
    sp.temperature = o.sampling.temperature;
    sp.top_k = o.sampling.top_k;
    sp.top_p = o.sampling.top_p;
    sp.min_p = o.sampling.min_p;
    sp.repeat_penalty = o.sampling.repeat_penalty;
    sp.seed = o.sampling.seed;
    sampling::Sampler sampler(sp);
    const std::vector<int32_t> eog = model::end_of_generation_tokens(tk);
    sampling::StopMatcher stops(o.stop);
    tok::StreamDecoder decoder(tk);
    std::vector<int32_t> history_ids(tail.begin(), tail.end());
    bool user_stopped = false;
    auto emit = [&](const std::string& piece) {
      if (piece.empty()) return;
      ans.text += piece;
      if (o.on_token && !user_stopped && !o.on_token(piece)) user_stopped = true;
    };

    const auto t0 = clock::now();
    std::vector<float> logits = prefill(tail, {}, "prompt");
    ans.timings.prompt_s = since(t0);
    ans.timings.prompt_tokens = int64_t(tail.size());
    const auto t1 = clock::now();
    ans.stop_reason = "length";
    int64_t generated = 0;
    for (int64_t i = 0; i < o.max_tokens; ++i) {
      const int32_t next = sampler.sample(logits, history_ids);
      if (std::binary_search(eog.begin(), eog.end(), next)) {
        ans.stop_reason = "eos";
        break;
      }
      ++generated;
      history_ids.push_back(next);
      if (!tk.is_control(next)) emit(stops.push(decoder.push(next)));
      if (stops.stopped()) {
        ans.stop_reason = "stop_string";
        break;
      }
      if (user_stopped || cancel_flag) {
        ans.stop_reason = "cancelled";
        break;
      }
      if (i + 1 == o.max_tokens) break;
      if (ms->n_past() >= ms->capacity()) {
        ans.stop_reason = "context_full";
        break;
      }
      std::lock_guard fl(engine->forward_mutex);
      const auto l = ms->decode_step(next);
      logits.assign(l.begin(), l.end());
    }
    if (ans.stop_reason != "stop_string") emit(stops.push(decoder.flush()) + stops.flush());
    ans.timings.decode_s = since(t1);
    ans.timings.generated_tokens = generated;
    ans.timings.decode_tokens_per_s = ans.timings.decode_s > 0 ? double(generated) / ans.timings.decode_s : 0;

    ans.citations = resolve_references(*view, ans.text);
    if (meter) {
      {
        std::lock_guard lock(engine->forward_mutex);
        meter->finish();
      }
      if (!meter->measured()) ans.evidence_note = "attention evidence: the backend does not measure it; none measured";
      std::vector<Citation> ev = meter->citations(*view, size_t(o.evidence_anchors));
      ans.citations.insert(ans.citations.end(), ev.begin(), ev.end());
    }
    if (o.remember) history.push_back({std::string(question), ans.text});
    return ans;
  }
};

}  // namespace detail

Session Engine::open_session(Corpus& corpus, const SessionOptions& options) const {
  return detail::guarded([&] {
    if (corpus.impl_->engine != impl_)
      fail(Errc::invalid_argument, "open_session: the corpus belongs to another engine (its tokenizer may differ)");
    auto s = std::make_unique<detail::SessionImpl>();
    s->engine = impl_;
    s->options = options;
    s->prepare(corpus.impl_->assemble());
    s->open_fresh();
    return Session(std::move(s));
  });
}

Session::Session(std::unique_ptr<detail::SessionImpl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

Answer Session::ask(std::string_view question, const AskOptions& options) {
  return detail::guarded([&] { return impl_->ask(question, options); });
}

Session Session::fork() const {
  return detail::guarded([&] { return Session(impl_->fork()); });
}

KvMemory Session::kv_memory() const {
  std::lock_guard lock(impl_->ask_mutex);  // the page tables change while an ask runs
  const backend::KvCache::Memory m = impl_->ms->kv_cache().memory();
  return {m.bytes, m.shared_bytes, m.family_bytes};
}

void Session::cancel() noexcept { impl_->cancel_flag = true; }

void Session::reset() {
  std::lock_guard lock(impl_->ask_mutex);
  impl_->history.clear();
}

Timings Session::open_timings() const { return impl_->open; }
CorpusStats Session::corpus_stats() const { return impl_->view->stats; }
std::vector<Citation> Session::resolve_references(std::string_view text) const {
  return detail::guarded([&] { return detail::resolve_references(*impl_->view, text); });
}

}  // namespace folio
