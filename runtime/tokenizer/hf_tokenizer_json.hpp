// Reads a Hugging Face `tokenizer.json` (byte-level BPE: Qwen2/Qwen3, Llama 3,
// GPT-2) into a Vocab, for `folio convert` and the tokenizer parity test.
//
// Read: model.vocab, model.merges (both the "a b" string form and the [a, b]
// array form), model.ignore_merges, added_tokens (special -> control, others ->
// user_defined; their text is kept verbatim), and the pre-tokenizer (a Split
// with the Qwen2 or Llama 3 regex, or ByteLevel with use_regex for GPT-2).
// Ids with no token are filled with "[PAD<id>]" of type unused.
//
// When a `tokenizer_config.json` sits next to the file, its bos_token,
// eos_token, pad_token, add_bos_token and chat_template are read too; a
// TemplateProcessing post-processor that starts with a special token also sets
// bos and add_bos (Llama 3).
//
// Errors are folio::Error(format) naming the file and the field; an unknown
// model type or pre-tokenizer is Errc::unsupported.
#pragma once

#include <filesystem>
#include <string_view>

#include "runtime/tokenizer/tokenizer.hpp"

namespace folio::tok {

Vocab vocab_from_hf_tokenizer_json(const std::filesystem::path& path);

// The same from text already in memory (no tokenizer_config.json is read unless
// `config_json` is non-empty). `display_name` prefixes error messages.
Vocab vocab_from_hf_tokenizer_json_text(std::string_view tokenizer_json, std::string_view display_name,
                                        std::string_view config_json = {});

}  // namespace folio::tok
