#include "ingest/tokenizer_adapter.hpp"

namespace folio::ingest {

ModelTokenizer::ModelTokenizer(tok::Tokenizer tokenizer, std::string name)
    : tok_(std::move(tokenizer)), name_(std::move(name)) {
  lengths_.resize(tok_.vocab_size());
  for (size_t i = 0; i < lengths_.size(); ++i) lengths_[i] = uint32_t(tok_.token_bytes(tok::TokenId(i)).size());
}

std::vector<int32_t> ModelTokenizer::encode(std::string_view text) const { return tok_.encode(text, false); }

size_t ModelTokenizer::token_length(int32_t id) const {
  return id >= 0 && size_t(id) < lengths_.size() ? lengths_[size_t(id)] : 0;
}

}  // namespace folio::ingest
