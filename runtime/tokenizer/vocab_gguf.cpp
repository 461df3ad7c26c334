// Vocab <-> GGUF metadata (tokenizer.ggml.*), with the keys and pre-tokenizer
// names llama.cpp uses.
#include <string>

#include "runtime/common/error.hpp"
#include "runtime/gguf/gguf.hpp"
#include "runtime/tokenizer/tokenizer.hpp"

namespace folio::tok {

namespace {

std::optional<TokenId> read_id(const gguf::File& file, std::string_view key, size_t n_tokens) {
  const gguf::Value* v = file.find(key);
  if (!v) return std::nullopt;
  const int64_t id = v->as_i64(key);
  // llama.cpp writes -1 (as u32 0xFFFFFFFF in some files) for "none".
  if (id < 0 || id == int64_t(UINT32_MAX)) return std::nullopt;
  if (uint64_t(id) >= n_tokens)
    fail(Errc::format, file.name() + ": " + std::string(key) + " = " + std::to_string(id) +
                           " is out of range (" + std::to_string(n_tokens) + " tokens)");
  return TokenId(id);
}

}  // namespace

Vocab vocab_from_gguf(const gguf::File& file) {
  const std::string model = file.get_string("tokenizer.ggml.model");
  if (model != "gpt2")
    fail(Errc::unsupported, file.name() + ": tokenizer.ggml.model '" + model +
                                "' is not supported (Folio reads byte-level BPE, \"gpt2\")");
  Vocab vocab;
  const std::string pre = file.get_string_opt("tokenizer.ggml.pre").value_or("default");
  if (pre == "qwen2") {
    vocab.pre = PreTokenizer::qwen2;
  } else if (pre == "llama-bpe" || pre == "llama3") {
    vocab.pre = PreTokenizer::llama3;
    vocab.ignore_merges = true;  // as llama.cpp does for llama-bpe
  } else if (pre == "gpt-2" || pre == "gpt2" || pre == "default") {
    vocab.pre = PreTokenizer::gpt2;
  } else {
    fail(Errc::unsupported, file.name() + ": tokenizer.ggml.pre '" + pre +
                                "' is not supported (known: qwen2, llama-bpe, gpt-2)");
  }
  // Folio's own key; without it, Qwen2-family vocabularies normalize to NFC as
  // their tokenizer.json files declare (llama.cpp's converter drops the normalizer).
  const std::string normalizer =
      file.get_string_opt("tokenizer.folio.normalizer").value_or(vocab.pre == PreTokenizer::qwen2 ? "nfc" : "none");
  if (normalizer == "nfc") vocab.normalizer = Normalizer::nfc;
  else if (normalizer != "none")
    fail(Errc::unsupported, file.name() + ": tokenizer.folio.normalizer '" + normalizer + "' is not supported");
  vocab.tokens = file.get_string_array("tokenizer.ggml.tokens");
  if (vocab.tokens.empty()) fail(Errc::format, file.name() + ": tokenizer.ggml.tokens is empty");
  if (file.find("tokenizer.ggml.merges")) vocab.merges = file.get_string_array("tokenizer.ggml.merges");
  if (file.find("tokenizer.ggml.token_type")) {
    const std::vector<int64_t> types = file.get_i64_array("tokenizer.ggml.token_type");
    if (types.size() != vocab.tokens.size())
      fail(Errc::format, file.name() + ": tokenizer.ggml.token_type has " + std::to_string(types.size()) +
                             " entries for " + std::to_string(vocab.tokens.size()) + " tokens");
    vocab.token_types.reserve(types.size());
    for (size_t i = 0; i < types.size(); ++i) {
      if (types[i] < 0 || types[i] > int64_t(TokenType::byte))
        fail(Errc::format, file.name() + ": tokenizer.ggml.token_type[" + std::to_string(i) + "] = " +
                               std::to_string(types[i]) + " is not a token type");
      vocab.token_types.push_back(TokenType(types[i]));
    }
  }
  vocab.bos = read_id(file, "tokenizer.ggml.bos_token_id", vocab.tokens.size());
  vocab.eos = read_id(file, "tokenizer.ggml.eos_token_id", vocab.tokens.size());
  vocab.pad = read_id(file, "tokenizer.ggml.padding_token_id", vocab.tokens.size());
  vocab.add_bos = file.get_bool_or("tokenizer.ggml.add_bos_token", false);
  vocab.chat_template = file.get_string_opt("tokenizer.chat_template").value_or("");
  return vocab;
}

void write_vocab(gguf::Writer& writer, const Vocab& vocab) {
  writer.set_string("tokenizer.ggml.model", "gpt2");
  switch (vocab.pre) {
    case PreTokenizer::qwen2: writer.set_string("tokenizer.ggml.pre", "qwen2"); break;
    case PreTokenizer::llama3: writer.set_string("tokenizer.ggml.pre", "llama-bpe"); break;
    case PreTokenizer::gpt2: writer.set_string("tokenizer.ggml.pre", "gpt-2"); break;
  }
  writer.set_string("tokenizer.folio.normalizer", vocab.normalizer == Normalizer::nfc ? "nfc" : "none");
  writer.set_string_array("tokenizer.ggml.tokens", vocab.tokens);
  writer.set_string_array("tokenizer.ggml.merges", vocab.merges);
  std::vector<int32_t> types(vocab.tokens.size(), int32_t(TokenType::normal));
  for (size_t i = 0; i < vocab.token_types.size() && i < types.size(); ++i) types[i] = int32_t(vocab.token_types[i]);
  writer.set_i32_array("tokenizer.ggml.token_type", types);
  if (vocab.bos) writer.set_u32("tokenizer.ggml.bos_token_id", uint32_t(*vocab.bos));
  if (vocab.eos) writer.set_u32("tokenizer.ggml.eos_token_id", uint32_t(*vocab.eos));
  if (vocab.pad) writer.set_u32("tokenizer.ggml.padding_token_id", uint32_t(*vocab.pad));
  writer.set_bool("tokenizer.ggml.add_bos_token", vocab.add_bos);
  if (!vocab.chat_template.empty()) writer.set_string("tokenizer.chat_template", vocab.chat_template);
}

}  // namespace folio::tok
