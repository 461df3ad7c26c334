// C and C++ sources hide attributes behind macros that a parser without a
// preprocessor cannot expand: `class FOLIO_API Engine : public Base {` reads to
// tree-sitter like a function definition. Before parsing, such macros are
// overwritten with spaces -- byte offsets and lines stay exactly the same, and
// the outline's text still comes from the original bytes.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace folio::ingest::code {

// Returns a copy of `source` with export/attribute macros blanked, or nullopt
// when there is nothing to blank. Recognised: after `class`, `struct` or
// `union`, one or more macro-like identifiers (upper case, digits, '_'; at
// least 2 characters) followed by the type's name and then `final`, ':' (not
// "::") or '{'. Two identifiers in a row before a base clause or body are never
// valid C++ without a macro, so the rewrite cannot change a correct program.
std::optional<std::string> blank_type_export_macros(std::string_view source);

}  // namespace folio::ingest::code
