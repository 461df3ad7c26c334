// Internal to the code parser: turning a tree-sitter syntax tree into
// CodeSymbols. One table per language maps node types to roles; a single
// non-recursive walk applies them (see symbol_rules.cpp for the rules).
#pragma once

#include <tree_sitter/api.h>

#include <string_view>

#include "ingest/code/code_outline.hpp"
#include "ingest/code/code_parser.hpp"

namespace folio::ingest::code {

// Appends the definitions under `root` to outline.symbols (and notes, error
// counts). `module` prefixes qualified names (Python); Java/Go packages are
// read from the tree.
void extract_symbols(TSNode root, std::string_view source, Language language, std::string_view module,
                     const ParseLimits& limits, CodeOutline& outline);

}  // namespace folio::ingest::code
