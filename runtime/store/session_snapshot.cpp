#include "runtime/store/session_snapshot.hpp"

#include <cstdio>

#include "runtime/backend/cpu/cpu_kv_cache.hpp"
#include "runtime/common/error.hpp"
#include "runtime/store/kv_adapter.hpp"

namespace folio::store {

namespace {

cpu::CpuKvCache* cpu_cache(model::Session& session) {
  return dynamic_cast<cpu::CpuKvCache*>(&session.kv_cache());
}

}  // namespace

KeyContext session_key_context(const model::Model& model, FingerprintMode mode, KvFormat format) {
  const auto& hp = model.hparams();
  // Everything that changes a stored K or V or summary bit. Sparse-attention
  // selection (top-k, window) only changes which blocks are read, not what
  // they hold, so it is not part of the key. (The host format's string is the
  // one snapshots were keyed with before formats were named: keys stay valid.)
  const char* kv = format == KvFormat::host_f32 ? "kv=f32;summary=mean+minmax" : "kv=bf16;summary=mean";
  char settings[256];
  std::snprintf(settings, sizeof settings, "rope_theta=%.9g;n_layers=%d;n_kv_heads=%d;head_dim=%d;%s;block=64",
                double(hp.rope_theta), hp.n_layers, hp.n_kv_heads, hp.head_dim, kv);
  return {model_fingerprint(model.file(), mode), attention_fingerprint(settings)};
}

size_t restore_session_with(Store& store, const KeyContext& context, model::Session& session,
                            std::span<const int32_t> tokens, std::span<const uint8_t> global,
                            const std::function<size_t(std::span<const Hash128>)>& restore_blocks) {
  if (session.n_past() != 0) return 0;
  const auto keys = block_keys(context, tokens, global);
  // Keep at least one token to prefill: the caller needs the logits of the
  // last prompt token, which a snapshot does not hold.
  const size_t usable = std::min(keys.size(), (tokens.size() - (tokens.empty() ? 0 : 1)) / kBlockTokens);
  try {
    const size_t blocks = restore_blocks(std::span(keys).first(usable));
    session.resume_from_cache();
    return blocks * kBlockTokens;
  } catch (const Error& e) {
    session.kv_cache().truncate(0);
    session.resume_from_cache();
    std::fprintf(stderr, "folio store: %s: restore skipped: %s\n", store.path().c_str(), e.what());
    return 0;
  }
}

std::vector<Hash128> saved_block_keys(const KeyContext& context, const model::Session& session,
                                      std::span<const int32_t> tokens, std::span<const uint8_t> global) {
  auto keys = block_keys(context, tokens, global);
  keys.resize(std::min(keys.size(), size_t(session.n_past()) / kBlockTokens));
  return keys;
}

size_t restore_session(Store& store, const KeyContext& context, model::Session& session,
                       std::span<const int32_t> tokens, std::span<const uint8_t> global) {
  auto* cache = cpu_cache(session);
  if (!cache) return 0;
  return restore_session_with(store, context, session, tokens, global, [&](std::span<const Hash128> keys) {
    return restore_snapshot(store, context.model, keys, cache->paged()).blocks;
  });
}

size_t save_session(Store& store, const KeyContext& context, model::Session& session,
                    std::span<const int32_t> tokens, std::span<const uint8_t> global, std::string label) {
  auto* cache = cpu_cache(session);
  if (!cache) return 0;
  return save_snapshot(store, context.model, saved_block_keys(context, session, tokens, global), cache->paged(),
                       std::move(label))
      .blocks_written;
}

}  // namespace folio::store
