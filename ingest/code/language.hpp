// Source languages the code ingester understands, and how a file is recognised
// as one of them (by extension, then by a `#!` interpreter line).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

struct TSLanguage;  // tree-sitter

namespace folio::ingest::code {

enum class Language : uint8_t { c, cpp, python, javascript, typescript, tsx, go, rust, java };
inline constexpr size_t kLanguageCount = 9;

// Stable lower-case name: "c", "cpp", "python", "javascript", "typescript",
// "tsx", "go", "rust", "java". Document::language carries it.
std::string_view language_name(Language language) noexcept;
std::optional<Language> language_from_name(std::string_view name) noexcept;

// Language of a file from its name (extension, case-sensitive where it matters:
// ".C" and ".H" are C++) and, when the extension says nothing, from a shebang on
// the first line of `head` ("#!/usr/bin/env python3", "#!/usr/bin/node").
// `.h` is C++ when `head` contains a C++-only construct (class, namespace,
// template, `::`), otherwise C.
std::optional<Language> detect_language(std::string_view filename, std::string_view head) noexcept;

// The compiled-in tree-sitter grammar for `language`.
const TSLanguage* tree_sitter_language(Language language) noexcept;

}  // namespace folio::ingest::code
