// Byte-level BPE tokenizer (GPT-2 family: Qwen2/Qwen3, Llama 3) built from GGUF
// metadata (`tokenizer.ggml.*`).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace folio::gguf { class File; class Writer; }

namespace folio::tok {

using TokenId = int32_t;

// Which published pre-tokenizer regex splits text before BPE.
enum class PreTokenizer { qwen2, llama3, gpt2 };

// GGUF token types (tokenizer.ggml.token_type).
enum class TokenType : int32_t { undefined = 0, normal = 1, unknown = 2, control = 3,
                                 user_defined = 4, unused = 5, byte = 6 };

// Text normalization before pre-tokenization (tokenizer.json's "normalizer").
enum class Normalizer { none, nfc };

struct Vocab {
  std::vector<std::string> tokens;      // byte-level encoded strings, as in GGUF
  std::vector<std::string> merges;      // "a b" pairs, highest priority first
  std::vector<TokenType> token_types;   // same length as tokens (or empty = all normal)
  PreTokenizer pre = PreTokenizer::qwen2;
  std::optional<TokenId> bos, eos, pad;
  bool add_bos = false;
  // A piece that is itself a vocab entry becomes that token without running
  // merges (Hugging Face `ignore_merges`; Llama 3 sets it, llama.cpp applies it
  // to "llama-bpe").
  bool ignore_merges = false;
  // NFC: Qwen2/Qwen3 normalize text outside special tokens to NFC first (so
  // decode(encode(s)) == s holds for NFC text). GGUF has no standard key for it:
  // vocab_from_gguf reads "tokenizer.folio.normalizer" when present, else
  // assumes NFC for pre "qwen2" as the published Qwen tokenizers declare.
  Normalizer normalizer = Normalizer::none;
  std::string chat_template;            // tokenizer.chat_template, kept verbatim
};

// Reads tokenizer.ggml.{model,pre,tokens,merges,token_type,bos_token_id,
// eos_token_id,padding_token_id,add_bos_token}, tokenizer.chat_template and
// tokenizer.folio.normalizer. model must be "gpt2"; pre is "qwen2",
// "llama-bpe" (sets ignore_merges, as llama.cpp does) or "gpt-2"/"default".
// Errors name the file and the key.
Vocab vocab_from_gguf(const gguf::File& file);
// Writes the same keys (used by make-tiny, convert and tests).
void write_vocab(gguf::Writer& writer, const Vocab& vocab);


// Immutable after construction: encode/decode may be called from several
// threads at once. Construction validates the vocab (token types, special ids,
// every merge names known tokens) and throws folio::Error(format) otherwise.
class Tokenizer {
 public:
  explicit Tokenizer(Vocab vocab);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // Special tokens written literally in the text are matched first (longest
  // match at each position), as Hugging Face tokenizers and llama.cpp do:
  // user-defined tokens ("<think>") always; control tokens ("<|im_start|>")
  // only when `parse_special`, otherwise they are encoded as plain text.
  // Any bytes are accepted (invalid UTF-8 too); decode(encode(s)) == s, or
  // NFC(s) when the vocab normalizes.
  std::vector<TokenId> encode(std::string_view text, bool parse_special = false) const;
  // Same, with BOS prepended when the vocab asks for it.
  std::vector<TokenId> encode_with_bos(std::string_view text, bool parse_special) const;

  // Ids plus where each token starts in `text` (bytes): token i covers
  // [offsets[i], offsets[i + 1]); offsets has ids.size() + 1 entries, the last
  // being text.size(). Offsets follow the tokens' bytes exactly except inside
  // stretches that NFC normalization rewrote, whose tokens all start at the
  // stretch's start (offsets never decrease). For citations and provenance.
  struct Encoding {
    std::vector<TokenId> ids;
    std::vector<uint32_t> offsets;
  };
  Encoding encode_with_offsets(std::string_view text, bool parse_special = false) const;
  // Raw bytes of the ids (byte-level decoding); may end in a partial UTF-8 char.
  // Control and user-defined tokens decode to their text. An id outside
  // [0, vocab_size()) throws folio::Error(invalid_argument).
  std::string decode(std::span<const TokenId> ids) const;
  // Raw bytes of one token.
  std::string token_bytes(TokenId id) const;
  // Type of a token (normal when the vocab has no token types); throws when out of range.
  TokenType token_type(TokenId id) const;

  size_t vocab_size() const noexcept;
  const Vocab& vocab() const noexcept;
  std::optional<TokenId> find(std::string_view token_text) const;  // exact vocab entry
  bool is_control(TokenId id) const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Turns a stream of ids into complete UTF-8 text: bytes of an unfinished
// character are held back until the next token completes it.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}
  std::string push(TokenId id);
  std::string flush();  // whatever is held back (may be invalid UTF-8 if the stream ended mid-char)

 private:
  const Tokenizer* tokenizer_;
  std::string pending_;
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

// Qwen3 ChatML rendering: "<|im_start|>role\ncontent<|im_end|>\n" per message,
// then "<|im_start|>assistant\n" when add_generation_prompt. With
// enable_thinking = false an empty "<think>\n\n</think>\n\n" is appended after the
// generation prompt, as Qwen3's template does.
std::string render_chatml(std::span<const ChatMessage> messages, bool add_generation_prompt,
                          bool enable_thinking = false);

}  // namespace folio::tok
