// The only thing ingestion knows about models: a tokenizer that turns text into
// ids. The SDK passes an adapter over the model's tokenizer (folio::tok, see
// tokenizer_adapter.hpp); tests and the CLI without a model use ByteTokenizer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace folio::ingest {

struct TextTokenizer {
  virtual ~TextTokenizer() = default;
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // Number of source bytes token `id` stands for. For byte-level tokenizers the
  // lengths of encode(t) sum to t.size(); assembly uses this to map tokens back
  // to byte offsets (and tolerates sums that differ by clamping).
  virtual size_t token_length(int32_t id) const = 0;
  virtual std::string name() const = 0;
};

// One token per byte (id = byte value). Exact, model-free; the CLI uses it for
// the byte-level estimate when no model is given.
struct ByteTokenizer final : TextTokenizer {
  std::vector<int32_t> encode(std::string_view text) const override;
  size_t token_length(int32_t) const override { return 1; }
  std::string name() const override { return "bytes"; }
};

}  // namespace folio::ingest
