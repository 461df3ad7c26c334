// Engine: the model, its backend and tokenizer, and the snapshot store.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "runtime/backend/cpu/cpu_backend.hpp"
#if FOLIO_SDK_CUDA
#include "runtime/backend/cuda/cuda_backend.hpp"
#endif
#if FOLIO_SDK_CUDA_STORE
#include "runtime/backend/cuda/cuda_kv_snapshot.hpp"
#endif
#include "runtime/common/error.hpp"
#include "runtime/model/hparams.hpp"
#include "runtime/store/session_snapshot.hpp"
#include "sdk/src/internal.hpp"

namespace folio {

namespace detail {

const store::KeyContext& EngineImpl::keys() {
  std::call_once(key_once, [&] {
    key_context = store::session_key_context(
        *model, options.full_fingerprint ? store::FingerprintMode::full : store::FingerprintMode::sampled,
        on_gpu() ? store::KvFormat::cuda_bf16 : store::KvFormat::host_f32);
  });
  return key_context;
}

size_t EngineImpl::restore_session(model::Session& session, std::span<const int32_t> tokens,
                                   std::span<const uint8_t> global) {
#if FOLIO_SDK_CUDA_STORE
  if (on_gpu()) return cuda::restore_cuda_session(*store, keys(), session, tokens, global);
#endif
  return store::restore_session(*store, keys(), session, tokens, global);
}

size_t EngineImpl::save_session(model::Session& session, std::span<const int32_t> tokens,
                                std::span<const uint8_t> global, std::string label) {
#if FOLIO_SDK_CUDA_STORE
  if (on_gpu()) return cuda::save_cuda_session(*store, keys(), session, tokens, global, std::move(label));
#endif
  return store::save_session(*store, keys(), session, tokens, global, std::move(label));
}

namespace {

// Puts the model on the GPU when `o.backend` asks for it and it fits. Returns
// false, with the reason in `note`, when "auto" should fall back to the CPU;
// with "cuda" the failure is the caller's error.
bool load_on_gpu([[maybe_unused]] EngineImpl& e, const EngineOptions& o, std::string& note) {
  const bool required = o.backend == "cuda";
#if FOLIO_SDK_CUDA
  if (!cuda::cuda_device_available()) {
    if (required) fail(Errc::unsupported, "backend \"cuda\": no CUDA device is usable; use \"auto\" or \"cpu\"");
    note = "no CUDA device is usable: running on the CPU";
    return false;
  }
  try {
    cuda::CudaOptions co;
    co.max_device_memory = size_t(o.max_device_memory);
    auto gpu = cuda::make_cuda_backend(co);
    auto m = std::make_unique<model::Model>(model::Model::load(e.file, *gpu));
    e.backend = std::move(gpu);  // declared before `model`: outlives it
    e.model = std::move(m);
    return true;
  } catch (const Error& err) {
    if (required) fail(err.code(), std::string(err.what()) + " (backend \"cuda\"; \"auto\" would fall back to the CPU)");
    note = std::string("the model did not fit on the GPU, running on the CPU: ") + err.what();
    std::fprintf(stderr, "folio: %s\n", note.c_str());  // a real fallback: say so, as for the store
    return false;
  }
#else
  if (required) fail(Errc::unsupported, "backend \"cuda\": this libfolio was built without CUDA; use \"cpu\"");
  note = "this libfolio was built without CUDA: running on the CPU";
  return false;
#endif
}

std::shared_ptr<EngineImpl> load_engine(const EngineOptions& o) {
  if (o.model_path.empty())
    fail(Errc::invalid_argument, "no model: set EngineOptions::model_path to a GGUF file "
                                 "(`folio make-tiny -o tiny.gguf` makes a small test model)");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(o.model_path, ec))
    fail(Errc::io, o.model_path + ": no such model file");
  if (o.context_budget < 0) fail(Errc::invalid_argument, "context_budget must not be negative");
  if (o.threads < 0) fail(Errc::invalid_argument, "threads must not be negative");
  if (o.backend != "cpu" && o.backend != "cuda" && o.backend != "auto")
    fail(Errc::invalid_argument, "backend must be \"cpu\", \"cuda\" or \"auto\", not \"" + o.backend + "\"");

  auto e = std::make_shared<EngineImpl>();
  e->options = o;
  e->file = std::make_shared<const gguf::File>(gguf::File::open(o.model_path));
  std::string backend_note;
  if (o.backend == "cpu" || !load_on_gpu(*e, o, backend_note)) {
    cpu::CpuOptions co;
    co.n_threads = o.threads;
    e->backend = cpu::make_cpu_backend(co);
    e->model = std::make_unique<model::Model>(model::Model::load(e->file, *e->backend));
  }
  tok::Tokenizer tokenizer(tok::vocab_from_gguf(*e->file));
  const model::HParams& hp = e->model->hparams();
  if (int64_t(tokenizer.vocab_size()) > hp.n_vocab)
    fail(Errc::format, o.model_path + ": the tokenizer has " + std::to_string(tokenizer.vocab_size()) +
                           " tokens but token_embd.weight only " + std::to_string(hp.n_vocab) + " rows");
  e->tokenizer = std::make_shared<const ingest::ModelTokenizer>(
      std::move(tokenizer), std::filesystem::path(o.model_path).filename().string());

  const int64_t model_ctx = hp.context_length > 0 ? hp.context_length : 4096;
  if (o.context_budget > model_ctx)
    fail(Errc::invalid_argument, "context_budget " + std::to_string(o.context_budget) +
                                     " exceeds the model's context length " + std::to_string(model_ctx) + " (" +
                                     o.model_path + ")");
  ModelInfo& mi = e->info;
  mi.path = o.model_path;
  mi.architecture = model::arch_name(hp.arch);
  mi.name = e->file->get_string_opt("general.name").value_or("");
  mi.parameters = hp.n_params(e->model->tied_output());
  mi.context_length = model_ctx;
  mi.context_budget = o.context_budget > 0 ? o.context_budget : std::min<int64_t>(model_ctx, 32768);
  mi.random_weights = e->file->get_bool_or("folio.random_weights", false);
  mi.backend = std::string(e->backend->name());
  mi.threads = cpu::cpu_backend_threads(*e->backend);  // 0 on the GPU
  mi.backend_note = std::move(backend_note);

  if (!o.store_path.empty()) {
    store::StoreOptions so;
    so.max_bytes = o.store_max_bytes;
    try {
      e->store = std::make_unique<store::Store>(store::Store::open(o.store_path, so));
    } catch (const Error& err) {
      // Answering works without snapshots: remember why, sessions report it.
      e->store_problem = err.what();
      std::fprintf(stderr, "folio: snapshot store unavailable, continuing without it: %s\n", err.what());
    }
  }
  return e;
}

}  // namespace
}  // namespace detail

Engine::Engine(const EngineOptions& options)
    : impl_(detail::guarded([&] { return detail::load_engine(options); })) {}
Engine::~Engine() = default;
Engine::Engine(const Engine&) = default;
Engine& Engine::operator=(const Engine&) = default;
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;

ModelInfo Engine::model_info() const { return impl_->info; }

Corpus Engine::corpus(const CorpusOptions& options) const {
  return detail::guarded([&] { return Corpus(std::make_shared<detail::CorpusImpl>(impl_, options)); });
}

}  // namespace folio
