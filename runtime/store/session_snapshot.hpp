// Snapshots of a model::Session's KV cache: the glue an application (or the
// SDK) uses to prefill a corpus once and answer later questions from the store.
//
//   const KeyContext ctx = session_key_context(model);        // once per model
//   size_t done = restore_session(store, ctx, session, tokens, global);
//   session.prefill(tokens.subspan(done));                     // only the rest
//   save_session(store, ctx, session, tokens, global, "corpus");
//
// These take CPU sessions: a session on another backend restores nothing
// (returns 0) and saves nothing. CUDA sessions have the same pair in
// runtime/backend/cuda/cuda_kv_snapshot.hpp (restore_cuda_session,
// save_cuda_session), with a key context made for their cache format.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "runtime/model/model.hpp"
#include "runtime/store/block_key.hpp"
#include "runtime/store/fingerprint.hpp"
#include "runtime/store/store.hpp"

namespace folio::store {

// What a cache stores per block: the host cache's f32 K/V with mean and min/max
// summaries, or the CUDA cache's bf16 K/V (summaries recomputed on restore).
// Part of the key, so the two kinds of snapshot never share blocks.
enum class KvFormat { host_f32, cuda_bf16 };

// Model fingerprint of the session's GGUF file and the attention settings that
// shape stored K/V (RoPE base, head layout, cache dtype and summary kind).
KeyContext session_key_context(const model::Model& model, FingerprintMode mode = FingerprintMode::full,
                               KvFormat format = KvFormat::host_f32);

// Restores the longest stored prefix of `tokens` into an empty session and
// makes the session continue after it. Returns the tokens restored (a multiple
// of 64, possibly 0). Store failures are reported and give 0: the caller
// prefills as if there were no cache.
size_t restore_session(Store& store, const KeyContext& context, model::Session& session,
                       std::span<const int32_t> tokens, std::span<const uint8_t> global);

// Saves the complete blocks of `tokens` (which the session must hold) as a
// snapshot. Returns the number of blocks newly written. Throws folio::Error on
// store failures (disk full, read-only, ...): the answer does not depend on it.
size_t save_session(Store& store, const KeyContext& context, model::Session& session,
                    std::span<const int32_t> tokens, std::span<const uint8_t> global, std::string label);

// The session-level protocol shared by every backend's pair above: which
// block keys a restore may use (every complete block but the one holding the
// last token, whose logits the caller needs) and what happens when the
// cache-level restore throws (the cache is emptied, the failure reported, 0
// returned). `restore_blocks(keys)` fills the session's empty cache and
// returns the blocks restored; the caller has checked the cache's type.
size_t restore_session_with(Store& store, const KeyContext& context, model::Session& session,
                            std::span<const int32_t> tokens, std::span<const uint8_t> global,
                            const std::function<size_t(std::span<const Hash128>)>& restore_blocks);
// The keys of the complete blocks of `tokens` that the session holds (what a save stores).
std::vector<Hash128> saved_block_keys(const KeyContext& context, const model::Session& session,
                                      std::span<const int32_t> tokens, std::span<const uint8_t> global);

}  // namespace folio::store
