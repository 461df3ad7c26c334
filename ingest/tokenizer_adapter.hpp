// TextTokenizer over the model's tokenizer (folio::tok::Tokenizer). Built only
// when the runtime tokenizer is part of the build (FOLIO_INGEST_HAVE_TOKENIZER).
#pragma once

#include <memory>
#include <vector>

#include "ingest/text_tokenizer.hpp"
#include "runtime/tokenizer/tokenizer.hpp"

namespace folio::ingest {

class ModelTokenizer final : public TextTokenizer {
 public:
  // Owns the tokenizer; `name` is shown in statistics ("qwen3-0.6b.gguf").
  ModelTokenizer(tok::Tokenizer tokenizer, std::string name);

  // Special tokens written in documents are encoded as plain text: a document
  // must not be able to inject "<|im_end|>".
  std::vector<int32_t> encode(std::string_view text) const override;
  size_t token_length(int32_t id) const override;
  std::string name() const override { return name_; }
  const tok::Tokenizer& tokenizer() const noexcept { return tok_; }

 private:
  tok::Tokenizer tok_;
  std::string name_;
  std::vector<uint32_t> lengths_;  // byte length per token id
};

}  // namespace folio::ingest
