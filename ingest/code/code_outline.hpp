// What the code parser finds in one source file: its definitions (namespaces,
// types, functions) as a tree, each with a name, a qualified name, a signature
// and exact line and byte ranges. This is the parser's own result; to_document()
// (code_document.hpp) turns it into an ingest::Document of code units.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ingest/code/language.hpp"

namespace folio::ingest::code {

enum class SymbolKind : uint8_t {
  namespace_,  // C++ namespace, Rust `mod { }`, TypeScript `namespace`/`module`
  class_,      // class (C++, Python, JS/TS, Java), Java record
  struct_,     // struct (C, C++, Rust, Go struct type)
  union_,
  enum_,
  interface,   // TS/Java/Go interface, Java @interface
  trait,       // Rust trait
  impl,        // Rust `impl [Trait for] Type`
  type,        // other named type definitions (Go `type T int`)
  function,    // free function
  method,      // function defined in a class/struct/impl/trait, Go method with receiver
  constructor, // Java constructor
};
const char* symbol_kind_name(SymbolKind kind) noexcept;  // "namespace", "class", ...
bool is_type_kind(SymbolKind kind) noexcept;             // class_ .. type
bool is_function_kind(SymbolKind kind) noexcept;         // function, method, constructor

inline constexpr uint32_t kNoParent = UINT32_MAX;

struct CodeSymbol {
  SymbolKind kind = SymbolKind::function;
  std::string name;            // as written, without scope: "put", "Store", "operator==", "~Store"
  std::string qualified_name;  // "folio::Store::put", "email.mime.text.MIMEText.__init__"
  std::string signature;       // declaration up to the body, whitespace collapsed (capped, see Limits)
  // The signature with the name written as the qualified name:
  // "def email.mime.text.MIMEText.__init__(self, _text)", "void folio::Store::put(const T& v)".
  std::string label;
  // Whole unit, including decorators / template headers that belong to it.
  // Lines are 1-based and inclusive; bytes are the half-open range in the source.
  uint32_t line_begin = 0, line_end = 0;
  uint64_t byte_begin = 0, byte_end = 0;
  uint32_t name_line = 0;      // line of the name (what ctags reports)
  // Comments directly above the unit (each on its own line, no blank line in
  // between): where they start. Equal to byte_begin / line_begin when none;
  // comment_line_begin == 0 means unknown (an outline built by hand).
  uint64_t comment_begin = 0;
  uint32_t comment_line_begin = 0;
  uint32_t parent = kNoParent; // index into CodeOutline::symbols
  uint16_t depth = 0;          // 0 = top level of the file
};

struct CodeOutline {
  std::string path;   // as given to the parser
  Language language = Language::c;
  uint64_t bytes = 0;
  uint32_t lines = 0;
  // Prefix of every qualified name (Python module, Java/Go package; else empty)
  // and the language's scope separator ("." or "::").
  std::string scope_prefix;
  std::string scope_separator;
  // Definitions in document order (a parent precedes its children).
  std::vector<CodeSymbol> symbols;
  // Parse trouble worth telling the caller about; never fatal. For example
  // "3 syntax errors (first at line 12)" or "definitions nested deeper than 32
  // levels kept as text of their parent: 2".
  std::vector<std::string> notes;
  uint32_t syntax_errors = 0;  // ERROR/MISSING nodes seen
};

}  // namespace folio::ingest::code
