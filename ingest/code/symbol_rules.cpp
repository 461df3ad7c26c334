// From syntax trees to definitions.
//
// Every grammar names its node types differently, so each language has a table
// from node type to Role, built once from the grammar's symbol names. The walk
// (extract_symbols) is one loop over a TSTreeCursor with an explicit stack, so a
// hostile file nested 100 000 levels deep costs heap, not C stack. A node whose
// role is a definition becomes a CodeSymbol; wrappers (Python decorators, C++
// `template <...>`, Go `type` declarations, JS `const f = () => ...`) lend the
// definition their start so the unit's text includes them.
#include "ingest/code/symbol_rules.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ingest/code/utf8.hpp"

namespace folio::ingest::code {
namespace {

enum class Role : uint8_t {
  none,
  skip,           // leaves worth not descending into (comments, strings)
  // C / C++
  c_function,     // function_definition
  c_record,       // class/struct/union/enum specifier (a definition only with a body)
  cpp_namespace,  // namespace_definition
  cpp_template,   // template_declaration: wrapper
  // Python
  py_function,
  py_class,
  py_decorated,   // decorated_definition: wrapper
  py_assignment,  // `name = lambda ...`
  js_export,      // export_statement: wrapper
  // JavaScript / TypeScript
  js_function,    // function_declaration, generator_function_declaration
  js_class,       // class_declaration, abstract_class_declaration
  js_method,      // method_definition, method_signature, abstract_method_signature
  js_declarator,  // variable_declarator whose value is a function or class
  js_assignment,  // assignment_expression whose right side is a function or class
  js_named_value, // function_expression / generator_function / class with a name of its own
  js_pair,        // object literal member `key: function/arrow`
  ts_interface,
  ts_enum,
  ts_namespace,   // internal_module (`namespace X {}`), module (`declare module "x" {}`)
  ts_type_alias,
  // Go
  go_package,
  go_function,
  go_method,
  go_type_decl,   // type_declaration: wrapper when it holds one spec
  go_type_spec,   // type_spec, type_alias
  // Rust
  rs_function,    // function_item, function_signature_item
  rs_struct,
  rs_enum,
  rs_union,
  rs_trait,
  rs_impl,
  rs_mod,
  rs_type,
  // Java
  java_package,
  java_class,
  java_interface,
  java_enum,
  java_record,
  java_annotation,
  java_method,
  java_constructor,
};

struct RoleName {
  const char* type;
  Role role;
};

// Expressions hold no definitions these languages anchor (C/C++ lambdas and
// Python lambdas outside assignments are not units), so the walk skips them:
// most of a file's nodes are expressions.
#define FOLIO_C_EXPRESSIONS                                                                      \
  {"call_expression", Role::skip}, {"argument_list", Role::skip},                                \
      {"binary_expression", Role::skip}, {"assignment_expression", Role::skip},                  \
      {"field_expression", Role::skip}, {"subscript_expression", Role::skip},                    \
      {"parenthesized_expression", Role::skip}, {"initializer_list", Role::skip},                \
      {"conditional_expression", Role::skip}, {"cast_expression", Role::skip},                   \
      {"unary_expression", Role::skip}, {"update_expression", Role::skip},                       \
      {"pointer_expression", Role::skip}, {"concatenated_string", Role::skip},                   \
      {"number_literal", Role::skip}, {"string_literal", Role::skip}, {"char_literal", Role::skip}, \
      {"comment", Role::skip}

constexpr RoleName kCRoles[] = {
    {"function_definition", Role::c_function}, {"struct_specifier", Role::c_record},
    {"union_specifier", Role::c_record},       {"enum_specifier", Role::c_record},
    FOLIO_C_EXPRESSIONS,
};
constexpr RoleName kCppRoles[] = {
    {"function_definition", Role::c_function},   {"class_specifier", Role::c_record},
    {"struct_specifier", Role::c_record},        {"union_specifier", Role::c_record},
    {"enum_specifier", Role::c_record},          {"namespace_definition", Role::cpp_namespace},
    {"template_declaration", Role::cpp_template}, {"raw_string_literal", Role::skip},
    {"lambda_expression", Role::skip},           {"template_argument_list", Role::skip},
    FOLIO_C_EXPRESSIONS,
};
#undef FOLIO_C_EXPRESSIONS
constexpr RoleName kPythonRoles[] = {
    {"function_definition", Role::py_function}, {"class_definition", Role::py_class},
    {"decorated_definition", Role::py_decorated}, {"assignment", Role::py_assignment},
    {"comment", Role::skip}, {"string", Role::skip}, {"concatenated_string", Role::skip},
    {"call", Role::skip}, {"argument_list", Role::skip}, {"binary_operator", Role::skip},
    {"boolean_operator", Role::skip}, {"comparison_operator", Role::skip}, {"not_operator", Role::skip},
    {"unary_operator", Role::skip}, {"attribute", Role::skip}, {"subscript", Role::skip},
    {"list", Role::skip}, {"tuple", Role::skip}, {"dictionary", Role::skip}, {"set", Role::skip},
    {"list_comprehension", Role::skip}, {"dictionary_comprehension", Role::skip},
    {"set_comprehension", Role::skip}, {"generator_expression", Role::skip},
    {"parenthesized_expression", Role::skip}, {"conditional_expression", Role::skip},
    {"lambda", Role::skip}, {"integer", Role::skip}, {"float", Role::skip},
};
constexpr RoleName kJsRoles[] = {
    {"function_declaration", Role::js_function},
    {"generator_function_declaration", Role::js_function},
    {"class_declaration", Role::js_class},
    {"abstract_class_declaration", Role::js_class},
    {"method_definition", Role::js_method},
    {"method_signature", Role::js_method},
    {"abstract_method_signature", Role::js_method},
    {"variable_declarator", Role::js_declarator},
    {"export_statement", Role::js_export},
    {"function_expression", Role::js_named_value},
    {"function", Role::js_named_value},
    {"generator_function", Role::js_named_value},
    {"class", Role::js_named_value},
    {"pair", Role::js_pair},
    {"assignment_expression", Role::js_assignment},
    {"interface_declaration", Role::ts_interface},
    {"enum_declaration", Role::ts_enum},
    {"internal_module", Role::ts_namespace},
    {"module", Role::ts_namespace},
    {"type_alias_declaration", Role::ts_type_alias},
    {"comment", Role::skip},
    {"html_comment", Role::skip},
};
constexpr RoleName kGoRoles[] = {
    {"package_clause", Role::go_package},     {"function_declaration", Role::go_function},
    {"method_declaration", Role::go_method},  {"type_declaration", Role::go_type_decl},
    {"type_spec", Role::go_type_spec},        {"type_alias", Role::go_type_spec},
    {"comment", Role::skip},                  {"interpreted_string_literal", Role::skip},
    {"raw_string_literal", Role::skip},
};
constexpr RoleName kRustRoles[] = {
    {"function_item", Role::rs_function}, {"function_signature_item", Role::rs_function},
    {"struct_item", Role::rs_struct},     {"enum_item", Role::rs_enum},
    {"union_item", Role::rs_union},       {"trait_item", Role::rs_trait},
    {"impl_item", Role::rs_impl},         {"mod_item", Role::rs_mod},
    {"type_item", Role::rs_type},         {"line_comment", Role::skip},
    {"block_comment", Role::skip},        {"string_literal", Role::skip},
    {"raw_string_literal", Role::skip},
};
constexpr RoleName kJavaRoles[] = {
    {"package_declaration", Role::java_package},
    {"class_declaration", Role::java_class},
    {"interface_declaration", Role::java_interface},
    {"enum_declaration", Role::java_enum},
    {"record_declaration", Role::java_record},
    {"annotation_type_declaration", Role::java_annotation},
    {"method_declaration", Role::java_method},
    {"constructor_declaration", Role::java_constructor},
    {"compact_constructor_declaration", Role::java_constructor},
    {"line_comment", Role::skip},
    {"block_comment", Role::skip},
    {"string_literal", Role::skip},
};

std::span<const RoleName> role_names(Language language) {
  switch (language) {
    case Language::c: return kCRoles;
    case Language::cpp: return kCppRoles;
    case Language::python: return kPythonRoles;
    case Language::javascript:
    case Language::typescript:
    case Language::tsx: return kJsRoles;
    case Language::go: return kGoRoles;
    case Language::rust: return kRustRoles;
    case Language::java: return kJavaRoles;
  }
  return {};
}

// Role of every grammar symbol (aliases included, hence the scan over all ids).
class RoleTable {
 public:
  explicit RoleTable(Language language) {
    const TSLanguage* grammar = tree_sitter_language(language);
    uint32_t count = ts_language_symbol_count(grammar);
    roles_.assign(count, Role::none);
    comments_.assign(count, 0);
    auto names = role_names(language);
    for (uint32_t id = 0; id < count; ++id) {
      if (ts_language_symbol_type(grammar, TSSymbol(id)) != TSSymbolTypeRegular) continue;
      const char* name = ts_language_symbol_name(grammar, TSSymbol(id));
      if (name == nullptr) continue;
      comments_[id] = std::string_view(name).ends_with("comment");
      for (const auto& entry : names)
        if (std::strcmp(name, entry.type) == 0) roles_[id] = entry.role;
    }
  }
  Role operator()(TSSymbol symbol) const noexcept {
    return symbol < roles_.size() ? roles_[symbol] : Role::none;
  }
  bool comment(TSSymbol symbol) const noexcept { return symbol < comments_.size() && comments_[symbol]; }

 private:
  std::vector<Role> roles_;
  std::vector<uint8_t> comments_;  // comment, line_comment, block_comment, html_comment
};

const RoleTable& role_table(Language language) {
  // Built on first use, immutable afterwards (thread-safe static initialisation).
  static const std::array<RoleTable, kLanguageCount> tables = [] {
    return std::array<RoleTable, kLanguageCount>{
        RoleTable(Language::c),          RoleTable(Language::cpp),        RoleTable(Language::python),
        RoleTable(Language::javascript), RoleTable(Language::typescript), RoleTable(Language::tsx),
        RoleTable(Language::go),         RoleTable(Language::rust),       RoleTable(Language::java)};
  }();
  return tables[size_t(language)];
}

std::string_view scope_separator(Language language) {
  switch (language) {
    case Language::c:
    case Language::cpp:
    case Language::rust: return "::";
    default: return ".";
  }
}

// --- Node helpers ------------------------------------------------------------

bool is_null(TSNode node) { return ts_node_is_null(node); }

TSNode field(TSNode node, const char* name) {
  return ts_node_child_by_field_name(node, name, uint32_t(std::strlen(name)));
}

bool has_type(TSNode node, const char* type) {
  return !is_null(node) && std::strcmp(ts_node_type(node), type) == 0;
}

template <size_t N>
bool has_any_type(TSNode node, const char* const (&types)[N]) {
  if (is_null(node)) return false;
  const char* actual = ts_node_type(node);
  for (const char* type : types)
    if (std::strcmp(actual, type) == 0) return true;
  return false;
}

// Collapses whitespace runs to one space, trims, repairs UTF-8.
std::string collapsed(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool pending_space = false;
  for (char ch : text) {
    if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(ch);
  }
  if (count_invalid_utf8(out) != 0) return sanitized_utf8(out);
  return out;
}

// A definition found at a node, before it is placed in the outline.
struct Def {
  SymbolKind kind = SymbolKind::function;
  TSNode node{};           // the definition node itself
  TSNode name_node{};      // may be null (anonymous; then `name` is set)
  TSNode qual_node{};      // the text `qual` stands for in the signature (default: name_node)
  std::string name;        // unqualified name
  std::string qual;        // this unit's part of the qualified name ("Store::put")
  bool scope_transparent = false;  // anonymous namespaces add nothing to qualified names
  uint32_t range_begin = 0;        // start byte of the unit (wrapper start when wrapped)
  TSPoint range_begin_point{};
  TSNode range_end_node{};         // when set and ending later than `node`, the unit ends there
  bool has_leading_comment = false;
  uint32_t comment_begin = 0;      // leading comments (see Frame)
  TSPoint comment_begin_point{};
  uint32_t signature_begin = 0;
  uint32_t signature_end = 0;
  std::string signature_prefix;    // Go specs inside a grouped `type ( ... )`
  std::string signature_suffix;    // C typedef'd anonymous records: their name
};

class Extractor {
 public:
  Extractor(std::string_view source, Language language, std::string_view module, const ParseLimits& limits,
            CodeOutline& outline)
      : source_(source), language_(language), roles_(role_table(language)), limits_(limits),
        outline_(outline), separator_(scope_separator(language)), prefix_(module) {}

  void run(TSNode root);

 private:
  struct Frame {
    TSNode node;
    bool opened_symbol = false;
    // A run of comments among this node's children, each on its own line and
    // line after line; the next sibling starting on the following line owns it.
    bool run_valid = false;
    uint32_t run_begin = 0;
    TSPoint run_begin_point{};
    uint32_t run_end_row = 0;
  };

  std::string_view text(TSNode node) const {
    uint32_t begin = std::min<uint32_t>(ts_node_start_byte(node), uint32_t(source_.size()));
    uint32_t end = std::min<uint32_t>(std::max(ts_node_end_byte(node), begin), uint32_t(source_.size()));
    return source_.substr(begin, end - begin);
  }
  TSNode parent_node() const {
    return frames_.size() >= 2 ? frames_[frames_.size() - 2].node : TSNode{};
  }
  const CodeSymbol* open_parent() const {
    return open_.empty() ? nullptr : &outline_.symbols[open_.back()];
  }
  bool inside_type() const {
    const CodeSymbol* parent = open_parent();
    return parent != nullptr && is_type_kind(parent->kind);
  }

  std::optional<Def> classify(TSNode node, Role role);
  std::optional<Def> unwrap(TSNode wrapper, Role role);
  std::optional<Def> c_function(TSNode node);
  std::optional<Def> c_record(TSNode node);
  std::optional<Def> js_bound(TSNode node, TSNode name, TSNode value, TSNode range);
  void basic(Def& def, TSNode node, SymbolKind kind, TSNode name_node, TSNode body);
  void add_symbol(Def def);
  void note_error(TSNode node);

  std::string_view source_;
  Language language_;
  const RoleTable& roles_;
  const ParseLimits& limits_;
  CodeOutline& outline_;
  std::string_view separator_;
  std::string prefix_;                 // module / package
  std::vector<Frame> frames_;          // path from the root to the current node
  std::vector<uint32_t> open_;         // symbols whose node is on the path
  std::vector<std::string> scopes_;    // qualified scope of each open symbol
  std::vector<const void*> consumed_;  // definition nodes already taken by a wrapper
  size_t dropped_depth_ = 0, dropped_count_ = 0;
  uint32_t first_error_line_ = 0;
};

void Extractor::basic(Def& def, TSNode node, SymbolKind kind, TSNode name_node, TSNode body) {
  def.kind = kind;
  def.node = node;
  def.name_node = name_node;
  if (!is_null(name_node)) {
    def.name = collapsed(text(name_node));
    def.qual = def.name;
  }
  def.range_begin = ts_node_start_byte(node);
  def.range_begin_point = ts_node_start_point(node);
  def.signature_begin = def.range_begin;
  def.signature_end = is_null(body) ? ts_node_end_byte(node) : ts_node_start_byte(body);
}

// C/C++ declarators nest (pointer, reference, function, parenthesized...); the
// name is at the bottom.
TSNode declarator_name(TSNode node) {
  static const char* const kWrappers[] = {"function_declarator", "pointer_declarator", "array_declarator",
                                          "attributed_declarator", "init_declarator"};
  for (int guard = 0; guard < 64 && !is_null(node); ++guard) {
    if (has_any_type(node, kWrappers)) {
      TSNode inner = field(node, "declarator");
      if (is_null(inner)) return TSNode{};
      node = inner;
    } else if (has_type(node, "parenthesized_declarator") || has_type(node, "reference_declarator")) {
      // Neither names its inner declarator with a field: it is the last child.
      uint32_t count = ts_node_named_child_count(node);
      if (count == 0) return TSNode{};
      node = ts_node_named_child(node, count - 1);
    } else {
      return node;
    }
  }
  return TSNode{};
}

// Last component of a (possibly qualified, possibly templated) C++ name.
std::string_view base_name_of(std::string_view qualified) {
  // Strip template arguments at the end, then take what follows the last "::"
  // outside angle brackets.
  int depth = 0;
  size_t cut = qualified.size();
  size_t start = 0;
  for (size_t i = 0; i < qualified.size(); ++i) {
    char ch = qualified[i];
    if (ch == '<') {
      if (depth == 0 && i > 0 && !qualified.substr(0, i).ends_with("operator")) cut = std::min(cut, i);
      ++depth;
    } else if (ch == '>') {
      depth = std::max(0, depth - 1);
    } else if (depth == 0 && ch == ':' && i + 1 < qualified.size() && qualified[i + 1] == ':') {
      start = i + 2;
      cut = qualified.size();
      ++i;
    }
  }
  if (cut < start) cut = qualified.size();
  std::string_view name = qualified.substr(start, cut - start);
  while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
  while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
  return name;
}

std::optional<Def> Extractor::c_function(TSNode node) {
  TSNode name = declarator_name(field(node, "declarator"));
  if (is_null(name)) return std::nullopt;
  Def def;
  basic(def, node, SymbolKind::function, name, field(node, "body"));
  // "Store::put" -> name "put", qual "Store::put"; "operator ==" -> "operator==".
  std::string full = collapsed(text(name));
  def.qual = full;
  def.name = std::string(base_name_of(full));
  if (def.name.starts_with("operator")) {
    std::string squeezed;
    for (char ch : def.name)
      if (ch != ' ') squeezed.push_back(ch);
    // keep "operator new" / "operator bool" readable
    if (def.name.size() > 9 && std::isalpha(static_cast<unsigned char>(def.name[9]))) squeezed = def.name;
    def.name = squeezed;
  }
  bool qualified = has_type(name, "qualified_identifier");
  def.kind = (inside_type() || qualified) ? SymbolKind::method : SymbolKind::function;
  // A constructor's member initialisers are not part of its signature.
  uint32_t children = ts_node_named_child_count(node);
  for (uint32_t i = 0; i < children; ++i) {
    TSNode child = ts_node_named_child(node, i);
    if (has_type(child, "field_initializer_list")) {
      def.signature_end = std::min(def.signature_end, ts_node_start_byte(child));
      break;
    }
  }
  return def;
}

std::optional<Def> Extractor::c_record(TSNode node) {
  TSNode body = field(node, "body");
  if (is_null(body)) return std::nullopt;  // a forward declaration or a use
  const char* type = ts_node_type(node);
  SymbolKind kind = std::strcmp(type, "class_specifier") == 0   ? SymbolKind::class_
                    : std::strcmp(type, "union_specifier") == 0 ? SymbolKind::union_
                    : std::strcmp(type, "enum_specifier") == 0  ? SymbolKind::enum_
                                                                : SymbolKind::struct_;
  Def def;
  TSNode name = field(node, "name");
  basic(def, node, kind, name, body);
  // `class A { ... };` -- the ';' belongs to the enclosing declaration; end
  // the unit there when the declaration declares nothing else.
  TSNode parent = parent_node();
  if ((has_type(parent, "declaration") || has_type(parent, "field_declaration")) &&
      is_null(field(parent, "declarator"))) {
    def.range_end_node = parent;
  } else {
    TSNode next = ts_node_next_sibling(node);  // `class A { };` at namespace scope
    if (has_type(next, ";")) def.range_end_node = next;
  }
  if (!is_null(name)) {
    def.qual = collapsed(text(name));
    def.name = std::string(base_name_of(def.qual));
    return def;
  }
  // `typedef struct { ... } Name;` is named by the typedef.
  if (has_type(parent, "type_definition")) {
    TSNode alias = declarator_name(field(parent, "declarator"));
    if (!is_null(alias) && has_type(alias, "type_identifier")) {
      def.name = collapsed(text(alias));
      def.qual = def.name;
      def.name_node = alias;
      def.range_begin = ts_node_start_byte(parent);
      def.range_begin_point = ts_node_start_point(parent);
      def.signature_begin = def.range_begin;
      def.signature_suffix = " " + def.name;  // "typedef struct Point"
      def.range_end_node = parent;
      return def;
    }
  }
  return std::nullopt;  // anonymous: its text stays in the enclosing unit
}

// `const f = (x) => ...`, `Foo.prototype.bar = function () {}`.
std::optional<Def> Extractor::js_bound(TSNode node, TSNode name, TSNode value, TSNode range) {
  static const char* const kFunctions[] = {"arrow_function", "function_expression", "function",
                                           "generator_function"};
  if (is_null(name) || is_null(value)) return std::nullopt;
  bool is_class = has_type(value, "class");
  if (!is_class && !has_any_type(value, kFunctions)) return std::nullopt;
  // `module.exports = class Agent {}`: a value with a name of its own is named
  // by it (its own role makes the symbol).
  if (!has_type(value, "arrow_function") && !is_null(field(value, "name"))) return std::nullopt;
  Def def;
  basic(def, node, is_class ? SymbolKind::class_ : SymbolKind::function, name, field(value, "body"));
  if (has_type(name, "member_expression")) {
    TSNode property = field(name, "property");
    def.qual = collapsed(text(name));
    def.name = is_null(property) ? def.qual : collapsed(text(property));
    def.name_node = is_null(property) ? name : property;
    def.qual_node = name;
    if (!is_class) def.kind = SymbolKind::method;
  } else if (!has_type(name, "identifier")) {
    return std::nullopt;  // destructuring patterns name nothing
  }
  def.range_begin = ts_node_start_byte(range);
  def.range_begin_point = ts_node_start_point(range);
  def.range_end_node = range;
  def.signature_begin = def.range_begin;
  return def;
}

// Wrappers lend their start to the single definition inside them.
std::optional<Def> Extractor::unwrap(TSNode wrapper, Role role) {
  TSNode inner{};
  if (role == Role::py_decorated) {
    inner = field(wrapper, "definition");
  } else if (role == Role::cpp_template) {
    // template <...> [template <...>] (function_definition | class_specifier ...)
    TSNode node = wrapper;
    for (int guard = 0; guard < 16; ++guard) {
      uint32_t count = ts_node_named_child_count(node);
      if (count == 0) return std::nullopt;
      TSNode last = ts_node_named_child(node, count - 1);
      if (roles_(ts_node_symbol(last)) == Role::cpp_template) {
        node = last;
        continue;
      }
      if (has_type(last, "declaration") || has_type(last, "field_declaration")) {
        // `template <class T> struct X { ... };` puts the specifier in the type.
        TSNode type = field(last, "type");
        // Error recovery can leave a declaration without a type: a null node,
        // which ts_node_symbol must not be given (fuzz_code found one).
        if (!is_null(type) && roles_(ts_node_symbol(type)) == Role::c_record && is_null(field(last, "declarator")))
          inner = type;
      } else {
        inner = last;
      }
      break;
    }
  } else if (role == Role::js_export) {
    inner = field(wrapper, "declaration");
  } else if (role == Role::go_type_decl) {
    if (ts_node_named_child_count(wrapper) != 1) return std::nullopt;
    inner = ts_node_named_child(wrapper, 0);
  }
  if (is_null(inner)) return std::nullopt;
  Role inner_role = roles_(ts_node_symbol(inner));
  static constexpr Role kWrappable[] = {Role::c_function,   Role::c_record,      Role::py_function,
                                       Role::py_class,     Role::go_type_spec,  Role::js_function,
                                       Role::js_class,     Role::ts_interface,  Role::ts_enum,
                                       Role::ts_namespace, Role::ts_type_alias};
  if (std::find(std::begin(kWrappable), std::end(kWrappable), inner_role) == std::end(kWrappable))
    return std::nullopt;
  std::optional<Def> def = classify(inner, inner_role);
  if (!def) return std::nullopt;
  def->range_begin = ts_node_start_byte(wrapper);
  def->range_begin_point = ts_node_start_point(wrapper);
  // C++ template headers and Go's `type` keyword belong in the signature;
  // Python decorators do not.
  if (role != Role::py_decorated) {
    def->signature_begin = def->range_begin;
    def->signature_prefix.clear();
  }
  consumed_.push_back(inner.id);
  return def;
}

std::optional<Def> Extractor::classify(TSNode node, Role role) {
  Def def;
  switch (role) {
    case Role::none:
    case Role::skip:
    case Role::go_package:
    case Role::java_package:
      return std::nullopt;

    case Role::c_function: return c_function(node);
    case Role::c_record: return c_record(node);
    case Role::cpp_namespace: {
      TSNode name = field(node, "name");
      basic(def, node, SymbolKind::namespace_, name, field(node, "body"));
      if (has_type(name, "nested_namespace_specifier")) {
        // namespace a::b::c { -> name "c", qualified "a::b::c"
        def.name = std::string(base_name_of(def.qual));
      }
      if (is_null(name)) {
        def.name = "(anonymous)";
        def.scope_transparent = true;
      }
      return def;
    }
    case Role::cpp_template:
    case Role::py_decorated:
    case Role::js_export:
    case Role::go_type_decl:
      return unwrap(node, role);

    case Role::py_function:
    case Role::py_class: {
      TSNode name = field(node, "name");
      if (is_null(name)) return std::nullopt;
      SymbolKind kind = role == Role::py_class ? SymbolKind::class_
                        : inside_type()         ? SymbolKind::method
                                                : SymbolKind::function;
      TSNode body = field(node, "body");
      basic(def, node, kind, name, body);
      // End the signature at the ':' before the body, so a trailing comment
      // (`def f(x):  # why`) stays out of it.
      uint32_t children = ts_node_child_count(node);
      for (uint32_t i = 0; i < children; ++i) {
        TSNode child = ts_node_child(node, i);
        if (!is_null(body) && ts_node_start_byte(child) >= ts_node_start_byte(body)) break;
        if (!ts_node_is_named(child) && has_type(child, ":")) def.signature_end = ts_node_start_byte(child);
      }
      return def;
    }

    case Role::py_assignment: {
      // `key = lambda x: ...` defines a function named key.
      TSNode left = field(node, "left");
      TSNode right = field(node, "right");
      if (!has_type(left, "identifier") || !has_type(right, "lambda")) return std::nullopt;
      TSNode body = field(right, "body");
      basic(def, node, SymbolKind::function, left, body);
      uint32_t children = ts_node_child_count(right);
      for (uint32_t i = 0; i < children; ++i) {
        TSNode child = ts_node_child(right, i);
        if (!is_null(body) && ts_node_start_byte(child) >= ts_node_start_byte(body)) break;
        if (!ts_node_is_named(child) && has_type(child, ":")) def.signature_end = ts_node_start_byte(child);
      }
      return def;
    }

    case Role::js_function:
    case Role::js_class:
    case Role::js_method:
    case Role::ts_interface:
    case Role::ts_enum:
    case Role::ts_namespace:
    case Role::ts_type_alias: {
      TSNode name = field(node, "name");
      if (is_null(name)) return std::nullopt;
      SymbolKind kind = role == Role::js_function    ? SymbolKind::function
                        : role == Role::js_class     ? SymbolKind::class_
                        : role == Role::js_method    ? SymbolKind::method
                        : role == Role::ts_interface ? SymbolKind::interface
                        : role == Role::ts_enum      ? SymbolKind::enum_
                        : role == Role::ts_namespace ? SymbolKind::namespace_
                                                     : SymbolKind::type;
      if (role == Role::ts_type_alias) {
        basic(def, node, kind, name, TSNode{});
      } else {
        basic(def, node, kind, name, field(node, "body"));
      }
      if (role == Role::js_method && has_type(name, "string")) {  // '$=' (a) {}
        std::string_view quoted = text(name);
        if (quoted.size() >= 2) def.name = def.qual = collapsed(quoted.substr(1, quoted.size() - 2));
      }
      return def;
    }
    case Role::js_declarator: {
      TSNode parent = parent_node();
      // `const f = ...` as one unit when the declaration declares only f.
      TSNode range = (!is_null(parent) && ts_node_named_child_count(parent) == 1) ? parent : node;
      return js_bound(node, field(node, "name"), field(node, "value"), range);
    }
    case Role::js_assignment: {
      TSNode parent = parent_node();
      TSNode range = has_type(parent, "expression_statement") ? parent : node;
      return js_bound(node, field(node, "left"), field(node, "right"), range);
    }

    case Role::js_named_value: {
      TSNode name = field(node, "name");
      if (is_null(name)) return std::nullopt;  // anonymous: named by a binding, if any
      basic(def, node, has_type(node, "class") ? SymbolKind::class_ : SymbolKind::function, name,
            field(node, "body"));
      return def;
    }
    case Role::js_pair: {
      // { key: function () {}, 'op=': (a, b) => a } -- methods of an object literal
      static const char* const kFunctions[] = {"arrow_function", "function_expression", "function",
                                               "generator_function"};
      TSNode key = field(node, "key");
      TSNode value = field(node, "value");
      if (is_null(key) || !has_any_type(value, kFunctions) || !is_null(field(value, "name"))) return std::nullopt;
      basic(def, node, SymbolKind::method, key, field(value, "body"));
      if (has_type(key, "string")) {
        std::string_view quoted = text(key);
        if (quoted.size() >= 2) def.name = collapsed(quoted.substr(1, quoted.size() - 2));
        def.qual = def.name;
      }
      return def;
    }

    case Role::go_function: {
      TSNode name = field(node, "name");
      if (is_null(name)) return std::nullopt;
      basic(def, node, SymbolKind::function, name, field(node, "body"));
      return def;
    }
    case Role::go_method: {
      TSNode name = field(node, "name");
      if (is_null(name)) return std::nullopt;
      basic(def, node, SymbolKind::method, name, field(node, "body"));
      // func (s *Store[K]) Put(...) -> "Store.Put"
      TSNode receiver = field(node, "receiver");
      TSNode param = is_null(receiver) ? TSNode{} : ts_node_named_child(receiver, 0);
      TSNode type = is_null(param) ? TSNode{} : field(param, "type");
      for (int guard = 0; guard < 8 && !is_null(type); ++guard) {
        if (has_type(type, "pointer_type") || has_type(type, "parenthesized_type")) {
          type = ts_node_named_child(type, 0);
        } else if (has_type(type, "generic_type")) {
          type = field(type, "type");
        } else {
          break;
        }
      }
      if (!is_null(type)) def.qual = collapsed(text(type)) + "." + def.name;
      return def;
    }
    case Role::go_type_spec: {
      TSNode name = field(node, "name");
      if (is_null(name)) return std::nullopt;
      TSNode type = field(node, "type");
      SymbolKind kind = has_type(type, "struct_type")      ? SymbolKind::struct_
                        : has_type(type, "interface_type") ? SymbolKind::interface
                                                           : SymbolKind::type;
      basic(def, node, kind, name, TSNode{});
      if (kind != SymbolKind::type) {
        std::string_view type_text = text(type);
        size_t brace = type_text.find('{');
        if (brace != std::string_view::npos) def.signature_end = ts_node_start_byte(type) + uint32_t(brace);
      }
      def.signature_prefix = "type ";
      return def;
    }

    case Role::rs_function: {
      TSNode name = field(node, "name");
      if (is_null(name)) return std::nullopt;
      basic(def, node, inside_type() ? SymbolKind::method : SymbolKind::function, name, field(node, "body"));
      return def;
    }
    case Role::rs_struct:
    case Role::rs_enum:
    case Role::rs_union:
    case Role::rs_trait:
    case Role::rs_type: {
      TSNode name = field(node, "name");
      if (is_null(name)) return std::nullopt;
      SymbolKind kind = role == Role::rs_struct  ? SymbolKind::struct_
                        : role == Role::rs_enum  ? SymbolKind::enum_
                        : role == Role::rs_union ? SymbolKind::union_
                        : role == Role::rs_trait ? SymbolKind::trait
                                                 : SymbolKind::type;
      basic(def, node, kind, name, role == Role::rs_type ? TSNode{} : field(node, "body"));
      return def;
    }
    case Role::rs_impl: {
      TSNode type = field(node, "type");
      if (is_null(type)) return std::nullopt;
      basic(def, node, SymbolKind::impl, type, field(node, "body"));
      // impl<T> Trait for Vec<T> -> "Vec": methods become "Vec::method".
      TSNode base = type;
      if (has_type(base, "generic_type")) base = field(base, "type");
      def.name = collapsed(text(is_null(base) ? type : base));
      def.qual = def.name;
      return def;
    }
    case Role::rs_mod: {
      TSNode body = field(node, "body");
      TSNode name = field(node, "name");
      if (is_null(body) || is_null(name)) return std::nullopt;  // `mod x;` lives in another file
      basic(def, node, SymbolKind::namespace_, name, body);
      return def;
    }

    case Role::java_class:
    case Role::java_interface:
    case Role::java_enum:
    case Role::java_record:
    case Role::java_annotation:
    case Role::java_method:
    case Role::java_constructor: {
      TSNode name = field(node, "name");
      if (is_null(name)) return std::nullopt;
      SymbolKind kind = role == Role::java_class        ? SymbolKind::class_
                        : role == Role::java_interface  ? SymbolKind::interface
                        : role == Role::java_enum       ? SymbolKind::enum_
                        : role == Role::java_record     ? SymbolKind::class_
                        : role == Role::java_annotation ? SymbolKind::interface
                        : role == Role::java_method     ? SymbolKind::method
                                                        : SymbolKind::constructor;
      basic(def, node, kind, name, field(node, "body"));
      return def;
    }
  }
  return std::nullopt;
}

void Extractor::add_symbol(Def def) {
  CodeSymbol symbol;
  symbol.kind = def.kind;
  symbol.name = std::move(def.name);
  if (symbol.name.empty()) symbol.name = "(anonymous)";
  // Qualified name: enclosing scope (or module/package prefix) + own part.
  const std::string& scope = scopes_.empty() ? prefix_ : scopes_.back();
  std::string own = def.scope_transparent ? std::string() : (def.qual.empty() ? symbol.name : def.qual);
  if (def.scope_transparent) {
    symbol.qualified_name = scope.empty() ? symbol.name : scope + std::string(separator_) + symbol.name;
  } else {
    symbol.qualified_name = scope.empty() ? own : scope + std::string(separator_) + own;
  }
  std::string child_scope = def.scope_transparent ? scope : symbol.qualified_name;

  // Signature: the declaration up to the body.
  uint32_t sig_begin = std::min<uint32_t>(def.signature_begin, uint32_t(source_.size()));
  uint32_t sig_end = std::clamp<uint32_t>(def.signature_end, sig_begin, uint32_t(source_.size()));
  std::string signature = def.signature_prefix + collapsed(source_.substr(sig_begin, sig_end - sig_begin));
  while (!signature.empty() && (signature.back() == '{' || signature.back() == ' ' || signature.back() == ';'))
    signature.pop_back();
  signature += def.signature_suffix;
  if (signature.size() > limits_.max_signature_bytes) {
    signature.resize(utf8_floor(signature, limits_.max_signature_bytes));
    signature += "\xE2\x80\xA6";  // …
  }
  symbol.signature = std::move(signature);

  // Label: the signature with the written name replaced by the qualified name.
  TSNode written = is_null(def.qual_node) ? def.name_node : def.qual_node;
  uint32_t name_begin = is_null(written) ? 0 : ts_node_start_byte(written);
  uint32_t name_end = is_null(written) ? 0 : ts_node_end_byte(written);
  if (!is_null(written) && name_begin >= sig_begin && name_end <= sig_end && name_begin < name_end &&
      !def.scope_transparent) {
    std::string label = def.signature_prefix + collapsed(source_.substr(sig_begin, name_begin - sig_begin));
    if (!label.empty() && label.back() != ' ') label.push_back(' ');
    label += symbol.qualified_name;
    std::string_view after = source_.substr(name_end, sig_end - name_end);
    std::string rest = collapsed(after);
    if (!rest.empty() && !after.empty() && (after.front() == ' ' || after.front() == '\t' || after.front() == '\n'))
      label.push_back(' ');
    label += rest;
    while (!label.empty() && (label.back() == '{' || label.back() == ' ' || label.back() == ';')) label.pop_back();
    if (label.size() > limits_.max_signature_bytes) {
      label.resize(utf8_floor(label, limits_.max_signature_bytes));
      label += "\xE2\x80\xA6";
    }
    symbol.label = std::move(label);
  } else {
    symbol.label = symbol.signature;
  }

  TSNode end_node = def.node;
  if (!is_null(def.range_end_node) && ts_node_end_byte(def.range_end_node) > ts_node_end_byte(def.node))
    end_node = def.range_end_node;
  TSPoint end_point = ts_node_end_point(end_node);
  symbol.byte_begin = def.range_begin;
  symbol.byte_end = ts_node_end_byte(end_node);
  symbol.line_begin = def.range_begin_point.row + 1;
  // A node that ends at a line break ends on the line before it.
  symbol.line_end = std::max(symbol.line_begin,
                             end_point.column == 0 && end_point.row > 0 ? end_point.row : end_point.row + 1);
  symbol.name_line = is_null(def.name_node) ? ts_node_start_point(def.node).row + 1
                                            : ts_node_start_point(def.name_node).row + 1;
  symbol.comment_begin = symbol.byte_begin;
  symbol.comment_line_begin = symbol.line_begin;
  if (def.has_leading_comment && def.comment_begin < def.range_begin) {
    symbol.comment_begin = def.comment_begin;
    symbol.comment_line_begin = def.comment_begin_point.row + 1;
  }
  symbol.parent = open_.empty() ? kNoParent : open_.back();
  symbol.depth = uint16_t(open_.size());

  open_.push_back(uint32_t(outline_.symbols.size()));
  scopes_.push_back(std::move(child_scope));
  outline_.symbols.push_back(std::move(symbol));
}

void Extractor::note_error(TSNode node) {
  ++outline_.syntax_errors;
  if (first_error_line_ == 0) first_error_line_ = ts_node_start_point(node).row + 1;
}

void Extractor::run(TSNode root) {
  const bool tree_has_errors = ts_node_has_error(root);
  TSTreeCursor cursor = ts_tree_cursor_new(root);
  struct CursorGuard {
    TSTreeCursor* cursor;
    ~CursorGuard() { ts_tree_cursor_delete(cursor); }
  } guard{&cursor};

  // Enters the cursor's node: maybe opens a symbol; returns whether to descend.
  // Leading comments: tracked in the parent's frame as siblings go by.
  auto track_comments = [&](TSNode node) -> std::optional<std::pair<uint32_t, TSPoint>> {
    if (frames_.empty()) return std::nullopt;
    Frame& parent = frames_.back();
    TSPoint start = ts_node_start_point(node);
    if (roles_.comment(ts_node_symbol(node))) {
      uint32_t begin = ts_node_start_byte(node);
      uint32_t line_start = begin;
      while (line_start > 0 && line_start <= source_.size() &&
             (source_[line_start - 1] == ' ' || source_[line_start - 1] == '\t'))
        --line_start;
      bool own_line = line_start == 0 || line_start > source_.size() || source_[line_start - 1] == '\n';
      TSPoint end = ts_node_end_point(node);
      uint32_t end_row = (end.column == 0 && end.row > start.row) ? end.row - 1 : end.row;
      if (!own_line) {
        parent.run_valid = false;
      } else if (parent.run_valid && start.row <= parent.run_end_row + 1) {
        parent.run_end_row = end_row;
      } else {
        parent.run_valid = true;
        parent.run_begin = begin;
        parent.run_begin_point = start;
        parent.run_end_row = end_row;
      }
      return std::nullopt;
    }
    std::optional<std::pair<uint32_t, TSPoint>> leading;
    if (parent.run_valid && start.row == parent.run_end_row + 1)
      leading = std::make_pair(parent.run_begin, parent.run_begin_point);
    parent.run_valid = false;
    return leading;
  };

  auto enter = [&]() -> bool {
    TSNode node = ts_tree_cursor_current_node(&cursor);
    auto leading_comment = track_comments(node);
    Frame frame;
    frame.node = node;
    frames_.push_back(frame);
    // ERROR nodes only: MISSING tokens are local repairs (tree-sitter-cpp, for
    // one, parses `f(T x = {})` with a MISSING type) that lose no definition.
    if (tree_has_errors && ts_node_symbol(node) == TSSymbol(-1)) note_error(node);
    Role role = roles_(ts_node_symbol(node));
    if (role == Role::none) return true;
    if (role == Role::skip) return false;
    if (role == Role::go_package || role == Role::java_package) {
      TSNode name = ts_node_named_child(node, 0);
      if (!is_null(name) && open_.empty()) prefix_ = collapsed(text(name));
      return false;
    }
    if (!consumed_.empty()) {
      auto it = std::find(consumed_.begin(), consumed_.end(), node.id);
      if (it != consumed_.end()) {
        consumed_.erase(it);
        return true;  // its wrapper already opened the symbol
      }
    }
    size_t consumed_before = consumed_.size();
    std::optional<Def> def = classify(node, role);
    if (!def) return true;
    if (leading_comment) {
      def->has_leading_comment = true;
      def->comment_begin = leading_comment->first;
      def->comment_begin_point = leading_comment->second;
    }
    if (open_.size() >= limits_.max_symbol_depth) {
      ++dropped_depth_;
      consumed_.resize(consumed_before);
      return true;
    }
    if (outline_.symbols.size() >= limits_.max_symbols) {
      ++dropped_count_;
      consumed_.resize(consumed_before);
      return true;
    }
    add_symbol(std::move(*def));
    frames_.back().opened_symbol = true;
    return true;
  };
  auto leave = [&]() {
    if (frames_.back().opened_symbol) {
      open_.pop_back();
      scopes_.pop_back();
    }
    frames_.pop_back();
  };

  bool descend = enter();
  for (;;) {
    if (descend && ts_tree_cursor_goto_first_child(&cursor)) {
      descend = enter();
      continue;
    }
    for (;;) {
      leave();
      if (ts_tree_cursor_goto_next_sibling(&cursor)) {
        descend = enter();
        break;
      }
      if (!ts_tree_cursor_goto_parent(&cursor)) {
        goto done;
      }
    }
  }
done:
  outline_.scope_prefix = prefix_;
  outline_.scope_separator = std::string(separator_);
  if (outline_.syntax_errors > 0) {
    outline_.notes.push_back(std::to_string(outline_.syntax_errors) + " syntax error" +
                             (outline_.syntax_errors == 1 ? "" : "s") + " (first at line " +
                             std::to_string(first_error_line_) + "); definitions found around them are kept");
  }
  if (dropped_depth_ > 0) {
    outline_.notes.push_back(std::to_string(dropped_depth_) + " definition(s) nested deeper than " +
                             std::to_string(limits_.max_symbol_depth) +
                             " levels are not anchors; their text stays in the enclosing unit");
  }
  if (dropped_count_ > 0) {
    outline_.notes.push_back(std::to_string(dropped_count_) + " definition(s) beyond the limit of " +
                             std::to_string(limits_.max_symbols) +
                             " per file are not anchors; their text stays in the enclosing unit");
  }
}

}  // namespace

void extract_symbols(TSNode root, std::string_view source, Language language, std::string_view module,
                     const ParseLimits& limits, CodeOutline& outline) {
  Extractor(source, language, module, limits, outline).run(root);
}

}  // namespace folio::ingest::code
