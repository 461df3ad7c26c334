// Code outlines as ingest::Documents.
//
// A source file becomes one Document (format code) whose blocks tile the file:
//   - the file block (anchor kind `file`, level 1, title = the display path)
//     holds the text before the first top-level definition (includes, imports)
//   - each definition opens a code_unit block (anchor kind namespace_/type/
//     function, level = nesting + 2, label = its qualified signature) holding
//     its text up to its first nested definition
//   - text after a nested definition and before the next one (a class's closing
//     brace, module code between functions) is an unanchored code_unit block at
//     the enclosing unit's level
// Together the blocks cover every non-blank line of the file exactly once, in
// order; blank lines between units are the only bytes left out. Block text is
// the source bytes verbatim (code is not NFC-normalised: byte and line
// provenance must stay exact), except that invalid UTF-8 becomes U+FFFD (noted).
//
// Files in an unknown language become plain-text Documents (format text): the
// same file anchor, then paragraph blocks of at most ~60 lines split at blank
// lines, each with its line and byte range.
#pragma once

#include <string_view>

#include "ingest/code/code_outline.hpp"
#include "ingest/document.hpp"

namespace folio::ingest::code {

// `source` must be the bytes the outline was parsed from. `display_path` is the
// file anchor's title (the path relative to the walk root); the Document's
// `source` is outline.path.
Document code_document(const CodeOutline& outline, std::string_view source, std::string_view display_path,
                       const Limits& limits = {});

// Plain-text fallback with line provenance. `notes` are copied into the
// Document (for example why the code parser was not used).
Document text_document(std::string_view path, std::string_view source, std::string_view display_path,
                       std::span<const std::string> notes = {}, const Limits& limits = {});

}  // namespace folio::ingest::code
