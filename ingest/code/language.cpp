#include "ingest/code/language.hpp"

#include <array>
#include <string>

extern "C" {
const TSLanguage* tree_sitter_c(void);
const TSLanguage* tree_sitter_cpp(void);
const TSLanguage* tree_sitter_python(void);
const TSLanguage* tree_sitter_javascript(void);
const TSLanguage* tree_sitter_typescript(void);
const TSLanguage* tree_sitter_tsx(void);
const TSLanguage* tree_sitter_go(void);
const TSLanguage* tree_sitter_rust(void);
const TSLanguage* tree_sitter_java(void);
}

namespace folio::ingest::code {
namespace {

constexpr std::array<std::string_view, kLanguageCount> kNames = {
    "c", "cpp", "python", "javascript", "typescript", "tsx", "go", "rust", "java"};

struct ExtensionRule {
  std::string_view extension;  // including the dot; compared exactly
  Language language;
};

// Exact (case-sensitive) matches first: ".C"/".H" are C++ by convention.
constexpr ExtensionRule kExactExtensions[] = {
    {".C", Language::cpp}, {".H", Language::cpp},
};

// Case-insensitive matches.
constexpr ExtensionRule kExtensions[] = {
    {".c", Language::c},          {".cc", Language::cpp},       {".cpp", Language::cpp},
    {".cxx", Language::cpp},      {".c++", Language::cpp},      {".hh", Language::cpp},
    {".hpp", Language::cpp},      {".hxx", Language::cpp},      {".h++", Language::cpp},
    {".ipp", Language::cpp},      {".tpp", Language::cpp},      {".inl", Language::cpp},
    {".cu", Language::cpp},       {".cuh", Language::cpp},      {".py", Language::python},
    {".pyi", Language::python},   {".pyw", Language::python},   {".js", Language::javascript},
    {".mjs", Language::javascript}, {".cjs", Language::javascript}, {".jsx", Language::javascript},
    {".ts", Language::typescript}, {".mts", Language::typescript}, {".cts", Language::typescript},
    {".tsx", Language::tsx},      {".go", Language::go},        {".rs", Language::rust},
    {".java", Language::java},
};

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool contains_word(std::string_view text, std::string_view word) noexcept {
  for (size_t pos = text.find(word); pos != std::string_view::npos; pos = text.find(word, pos + 1)) {
    auto is_ident = [](char ch) {
      return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
    };
    bool left = pos == 0 || !is_ident(text[pos - 1]);
    bool right = pos + word.size() >= text.size() || !is_ident(text[pos + word.size()]);
    if (left && right) return true;
  }
  return false;
}

// A header is C++ when it uses something C has no spelling for.
bool looks_like_cpp(std::string_view head) noexcept {
  return head.find("::") != std::string_view::npos || contains_word(head, "class") ||
         contains_word(head, "namespace") || contains_word(head, "template") ||
         contains_word(head, "public:") || contains_word(head, "constexpr");
}

std::optional<Language> from_shebang(std::string_view head) noexcept {
  if (head.size() < 2 || head[0] != '#' || head[1] != '!') return std::nullopt;
  std::string_view line = head.substr(2, head.find('\n') == std::string_view::npos ? head.size() - 2
                                                                                     : head.find('\n') - 2);
  // "/usr/bin/env -S python3 -u" -> the first word that is not env or an option.
  std::string_view interpreter;
  size_t pos = 0;
  while (pos < line.size()) {
    while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
    size_t end = pos;
    while (end < line.size() && line[end] != ' ' && line[end] != '\t' && line[end] != '\r') ++end;
    std::string_view word = line.substr(pos, end - pos);
    pos = end;
    if (word.empty()) break;
    std::string_view base = word.substr(word.rfind('/') == std::string_view::npos ? 0 : word.rfind('/') + 1);
    if (base == "env" || word.front() == '-') continue;
    interpreter = base;
    break;
  }
  if (interpreter.starts_with("python")) return Language::python;
  if (interpreter == "node" || interpreter == "nodejs") return Language::javascript;
  if (interpreter == "ts-node" || interpreter == "deno" || interpreter == "tsx") return Language::typescript;
  return std::nullopt;
}

}  // namespace

std::string_view language_name(Language language) noexcept {
  auto index = size_t(language);
  return index < kNames.size() ? kNames[index] : std::string_view("unknown");
}

std::optional<Language> language_from_name(std::string_view name) noexcept {
  for (size_t i = 0; i < kNames.size(); ++i)
    if (kNames[i] == name) return Language(i);
  return std::nullopt;
}

std::optional<Language> detect_language(std::string_view filename, std::string_view head) noexcept {
  std::string_view base = filename.substr(filename.find_last_of("/\\") == std::string_view::npos
                                              ? 0
                                              : filename.find_last_of("/\\") + 1);
  size_t dot = base.rfind('.');
  if (dot != std::string_view::npos && dot > 0) {
    std::string_view ext = base.substr(dot);
    for (const auto& rule : kExactExtensions)
      if (ext == rule.extension) return rule.language;
    if (iequals(ext, ".h")) return looks_like_cpp(head) ? Language::cpp : Language::c;
    for (const auto& rule : kExtensions)
      if (iequals(ext, rule.extension)) return rule.language;
  }
  return from_shebang(head);
}

const TSLanguage* tree_sitter_language(Language language) noexcept {
  switch (language) {
    case Language::c: return tree_sitter_c();
    case Language::cpp: return tree_sitter_cpp();
    case Language::python: return tree_sitter_python();
    case Language::javascript: return tree_sitter_javascript();
    case Language::typescript: return tree_sitter_typescript();
    case Language::tsx: return tree_sitter_tsx();
    case Language::go: return tree_sitter_go();
    case Language::rust: return tree_sitter_rust();
    case Language::java: return tree_sitter_java();
  }
  return nullptr;
}

}  // namespace folio::ingest::code
