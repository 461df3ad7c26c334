#include "ingest/code/code_parser.hpp"

#include <tree_sitter/api.h>

#include <array>
#include <cstring>
#include <mutex>
#include <optional>
#include <vector>

#include "ingest/code/macro_blanking.hpp"
#include "ingest/code/symbol_rules.hpp"
#include "ingest/code/utf8.hpp"
#include "runtime/common/error.hpp"

namespace folio::ingest::code {

const char* symbol_kind_name(SymbolKind kind) noexcept {
  switch (kind) {
    case SymbolKind::namespace_: return "namespace";
    case SymbolKind::class_: return "class";
    case SymbolKind::struct_: return "struct";
    case SymbolKind::union_: return "union";
    case SymbolKind::enum_: return "enum";
    case SymbolKind::interface: return "interface";
    case SymbolKind::trait: return "trait";
    case SymbolKind::impl: return "impl";
    case SymbolKind::type: return "type";
    case SymbolKind::function: return "function";
    case SymbolKind::method: return "method";
    case SymbolKind::constructor: return "constructor";
  }
  return "unknown";
}

bool is_type_kind(SymbolKind kind) noexcept {
  return kind >= SymbolKind::class_ && kind <= SymbolKind::type;
}

bool is_function_kind(SymbolKind kind) noexcept {
  return kind == SymbolKind::function || kind == SymbolKind::method || kind == SymbolKind::constructor;
}

std::string python_module_name(std::string_view relative_path) {
  std::string_view path = relative_path;
  // An absolute path says nothing about packages: the module is the file name.
  // After a "..", likewise only what follows counts.
  if (path.starts_with('/')) path = path.substr(path.rfind('/') + 1);
  if (size_t up = path.rfind("../"); up != std::string_view::npos) path = path.substr(up + 3);
  while (path.starts_with("./")) path.remove_prefix(2);
  size_t dot = path.rfind('.');
  size_t slash = path.rfind('/');
  if (dot != std::string_view::npos && (slash == std::string_view::npos || dot > slash)) path = path.substr(0, dot);
  if (path.ends_with("/__init__")) path.remove_suffix(std::strlen("/__init__"));
  else if (path == "__init__") return {};
  std::string module(path);
  for (char& ch : module)
    if (ch == '/' || ch == '\\') ch = '.';
  return module;
}

// --- The parser --------------------------------------------------------------

namespace {

struct ParserDeleter {
  void operator()(TSParser* parser) const noexcept { ts_parser_delete(parser); }
};
struct TreeDeleter {
  void operator()(TSTree* tree) const noexcept { ts_tree_delete(tree); }
};
using ParserPtr = std::unique_ptr<TSParser, ParserDeleter>;
using TreePtr = std::unique_ptr<TSTree, TreeDeleter>;

// tree-sitter reads the cancellation flag as a plain size_t with atomic loads.
static_assert(sizeof(std::atomic<size_t>) == sizeof(size_t) && std::atomic<size_t>::is_always_lock_free);

}  // namespace

struct CodeParser::Impl {
  ParserPtr parser{ts_parser_new()};
  std::optional<Language> current;
};

CodeParser::CodeParser(ParseLimits limits) : limits_(limits), impl_(std::make_unique<Impl>()) {
  if (!impl_->parser) fail(Errc::out_of_memory, "tree-sitter: cannot create a parser");
}
CodeParser::~CodeParser() = default;
CodeParser::CodeParser(CodeParser&&) noexcept = default;
CodeParser& CodeParser::operator=(CodeParser&&) noexcept = default;

CodeOutline CodeParser::parse(std::string_view path, std::string_view source, Language language,
                              const ParseOptions& options) {
  const uint64_t hard_cap = uint64_t(UINT32_MAX) / 2;  // tree-sitter offsets are 32-bit
  if (source.size() > limits_.max_file_bytes || source.size() > hard_cap) {
    fail(Errc::invalid_argument, std::string(path) + ": " + std::to_string(source.size()) +
                                     " bytes is over the code parser's limit of " +
                                     std::to_string(std::min<uint64_t>(limits_.max_file_bytes, hard_cap)) + " bytes");
  }
  TSParser* parser = impl_->parser.get();
  if (impl_->current != language) {
    const TSLanguage* grammar = tree_sitter_language(language);
    if (grammar == nullptr || !ts_parser_set_language(parser, grammar)) {
      fail(Errc::internal, std::string(path) + ": the tree-sitter runtime refused the " +
                               std::string(language_name(language)) + " grammar (ABI version " +
                               std::to_string(grammar ? ts_language_version(grammar) : 0) + ")");
    }
    impl_->current = language;
  }
  auto budget = limits_.parse_timeout_base +
                std::chrono::milliseconds(limits_.parse_timeout_per_mib.count() * int64_t(source.size()) / (1 << 20));
  // Whole seconds only: tree-sitter 0.20's monotonic clock_after() adds the
  // sub-second part to tv_nsec without carrying into tv_sec, so a budget with a
  // fractional second expires spuriously whenever a parse crosses a second
  // boundary (observed on Debian 12's libtree-sitter 0.20.7).
  auto whole_seconds = std::chrono::ceil<std::chrono::seconds>(budget);
  if (whole_seconds.count() < 1) whole_seconds = std::chrono::seconds(1);
  budget = whole_seconds;
  ts_parser_set_timeout_micros(parser, uint64_t(std::chrono::microseconds(whole_seconds).count()));
  ts_parser_set_cancellation_flag(parser, options.cancel ? reinterpret_cast<const size_t*>(options.cancel) : nullptr);

  // C/C++: parse a copy with export macros blanked (same offsets); symbols
  // take their text from the original.
  std::optional<std::string> blanked;
  if (language == Language::c || language == Language::cpp) blanked = blank_type_export_macros(source);
  std::string_view parsed = blanked ? std::string_view(*blanked) : source;
  TreePtr tree(ts_parser_parse_string_encoding(parser, nullptr, parsed.data(), uint32_t(parsed.size()),
                                               TSInputEncodingUTF8));
  ts_parser_set_cancellation_flag(parser, nullptr);
  if (!tree) {
    // A stopped parse resumes on the next call unless reset.
    ts_parser_reset(parser);
    if (options.cancel && options.cancel->load(std::memory_order_relaxed) != 0)
      fail(Errc::cancelled, std::string(path) + ": parse cancelled");
    fail(Errc::unsupported, std::string(path) + ": tree-sitter parse exceeded its time budget of " +
                                std::to_string(budget.count()) + " ms");
  }

  CodeOutline outline;
  outline.path = std::string(path);
  outline.language = language;
  outline.bytes = source.size();
  outline.lines = 0;
  if (!source.empty()) {
    outline.lines = 1;
    for (char ch : source) outline.lines += ch == '\n';
    if (source.back() == '\n') --outline.lines;
  }
  // Only Python names its modules by location; Java and Go read their package.
  std::string_view module = language == Language::python ? std::string_view(options.module) : std::string_view();
  extract_symbols(ts_tree_root_node(tree.get()), source, language, module, limits_, outline);
  return outline;
}

}  // namespace folio::ingest::code
