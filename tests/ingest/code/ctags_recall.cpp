#include "tests/ingest/code/ctags_recall.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <unistd.h>

#include "ingest/code/ingest_code.hpp"
#include "runtime/common/error.hpp"

namespace folio::ingest::code::recall {
namespace fs = std::filesystem;

namespace {

struct Tag {
  std::string name, file, kind, language;
  uint32_t line = 0;
};

// Kinds (ctags' long names) that are function or class-like definitions, per
// ctags language. Variables, members, macros, enumerators and prototypes are
// not definitions we anchor.
const std::map<std::string, std::set<std::string>> kDefinitionKinds = {
    {"C", {"function", "struct", "union", "enum"}},
    {"C++", {"function", "class", "struct", "union", "enum", "namespace"}},
    {"CUDA", {"function", "class", "struct", "union", "enum", "namespace"}},
    {"Python", {"class", "function", "member"}},
    {"JavaScript", {"function", "class", "method", "generator"}},
    {"TypeScript", {"function", "class", "interface", "enum", "method", "namespace", "generator"}},
    {"Go", {"func", "interface"}},
    {"Rust", {"function", "struct", "enum", "interface", "implementation", "method", "module"}},
    {"Java", {"class", "interface", "enum", "method"}},
};

// Names compared without spaces ("operator ==") and without JavaScript's '#'
// private sigil, which ctags drops.
std::string squeeze(std::string_view s) {
  std::string out;
  for (char ch : s)
    if (ch != ' ') out.push_back(ch);
  if (out.starts_with('#')) out.erase(0, 1);
  return out;
}

using Pipe = std::unique_ptr<FILE, int (*)(FILE*)>;

std::vector<Tag> run_ctags(const std::vector<std::string>& files) {
  fs::path list = fs::temp_directory_path() /
                  ("folio-ctags-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()));
  {
    std::ofstream out(list);
    for (const auto& f : files) out << f << "\n";
  }
  // Line numbers instead of search patterns: patterns may hold tabs.
  std::string command =
      "ctags -f - --excmd=number --fields=+nKlz --extras=-F -L '" + list.string() + "' 2>/dev/null";
  Pipe pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) fail(Errc::io, "cannot run ctags");
  std::vector<Tag> tags;
  std::string line;
  char buffer[8192];
  while (fgets(buffer, sizeof buffer, pipe.get()) != nullptr) {
    line += buffer;
    if (line.empty() || line.back() != '\n') continue;
    line.pop_back();
    size_t t1 = line.find('\t');
    size_t t2 = t1 == std::string::npos ? t1 : line.find('\t', t1 + 1);
    size_t ext = t2 == std::string::npos ? t2 : line.find(";\"\t", t2);
    if (ext != std::string::npos) {
      Tag tag;
      tag.name = line.substr(0, t1);
      tag.file = line.substr(t1 + 1, t2 - t1 - 1);
      std::string fields = line.substr(ext + 3);
      for (size_t pos = 0; pos <= fields.size();) {
        size_t end = fields.find('\t', pos);
        if (end == std::string::npos) end = fields.size();
        std::string field = fields.substr(pos, end - pos);
        if (field.starts_with("kind:")) tag.kind = field.substr(5);
        else if (field.starts_with("line:")) tag.line = uint32_t(std::strtoul(field.c_str() + 5, nullptr, 10));
        else if (field.starts_with("language:")) tag.language = field.substr(9);
        pos = end + 1;
      }
      tags.push_back(std::move(tag));
    }
    line.clear();
  }
  std::error_code ec;
  fs::remove(list, ec);
  return tags;
}

bool matches(const CodeSymbol& s, const Tag& tag, const std::string& want) {
  if (s.name_line != tag.line && s.line_begin != tag.line) return false;
  if (squeeze(s.name) == want) return true;
  // `namespace a::b::c {` is one anchor; ctags tags a, b and c on its line.
  if (s.kind == SymbolKind::namespace_) {
    std::string_view q = s.qualified_name;
    for (size_t pos = 0; pos <= q.size();) {
      size_t end = q.find("::", pos);
      if (end == std::string_view::npos) end = q.size();
      if (q.substr(pos, end - pos) == want) return true;
      pos = end + 2;
    }
  }
  return false;
}

}  // namespace

std::string Result::describe(const std::string& what) const {
  std::string out = what + ": recall " + std::to_string(matched) + "/" + std::to_string(tags) + " = " +
                    std::to_string(value() * 100) + "% over " + std::to_string(files) + " files\n";
  for (const auto& [language, counts] : by_language)
    out += "  " + language + ": " + std::to_string(counts.first) + "/" + std::to_string(counts.second) + "\n";
  for (const auto& m : misses) out += "  missed " + m + "\n";
  for (const auto& f : fallbacks) out += "  fallback " + f + "\n";
  return out;
}

Result measure(const fs::path& root, size_t max_misses) {
  CodeIngestOptions options;
  options.keep_outlines = true;
  options.skip_generated = false;  // measure the parser on every source file
  CodeIngestResult ingested = ingest_code_tree(root, options);

  std::map<std::string, const CodeOutline*> by_file;
  std::vector<std::string> files;
  Result result;
  for (size_t i = 0; i < ingested.documents.size(); ++i) {
    const Document& doc = ingested.documents[i];
    if (doc.format == SourceFormat::text && !doc.language.empty())
      for (const auto& note : doc.notes) result.fallbacks.push_back(note);
    if (ingested.documents[i].format != SourceFormat::code) continue;
    by_file[ingested.documents[i].source] = &ingested.outlines[i];
    files.push_back(ingested.documents[i].source);
  }
  result.files = files.size();
  for (const Tag& tag : run_ctags(files)) {
    auto kinds = kDefinitionKinds.find(tag.language);
    if (kinds == kDefinitionKinds.end() || !kinds->second.contains(tag.kind)) continue;
    // ctags' invented names for anonymous types and functions.
    if (tag.name.starts_with("__anon") || tag.name.starts_with("AnonymousFunction") ||
        tag.name.starts_with("AnonymousClass") || tag.name.starts_with("AnonymousObject"))
      continue;
    // ctags reads CUDA's `__global__ void __launch_bounds__(256) k(...)` as a
    // function named __launch_bounds__; it is an attribute, not a definition.
    if (tag.name == "__launch_bounds__") continue;
    auto outline = by_file.find(tag.file);
    if (outline == by_file.end()) continue;
    ++result.tags;
    auto& [lang_matched, lang_total] = result.by_language[tag.language];
    ++lang_total;
    const std::string want = squeeze(tag.name);
    bool hit = false;
    for (const CodeSymbol& s : outline->second->symbols)
      if ((hit = matches(s, tag, want))) break;
    if (hit) {
      ++result.matched;
      ++lang_matched;
    } else if (result.misses.size() < max_misses) {
      result.misses.push_back(tag.file + ":" + std::to_string(tag.line) + " " + tag.kind + " " + tag.name);
    }
  }
  return result;
}

std::string ctags_version() {
  Pipe pipe(popen("ctags --version 2>&1", "r"), pclose);
  if (!pipe) return {};
  char buffer[256] = {};
  if (fgets(buffer, sizeof buffer, pipe.get()) == nullptr) return {};
  std::string version(buffer);
  while (!version.empty() && (version.back() == '\n' || version.back() == '\r')) version.pop_back();
  return version.starts_with("Universal Ctags") ? version : std::string();
}

fs::path newest_python_stdlib() {
  fs::path best;
  int best_minor = -1;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib", ec)) {
    std::string name = entry.path().filename().string();
    if (!name.starts_with("python3.") || !fs::exists(entry.path() / "os.py")) continue;
    int minor = std::atoi(name.c_str() + 8);
    if (minor > best_minor) {
      best_minor = minor;
      best = entry.path();
    }
  }
  return best;
}

}  // namespace folio::ingest::code::recall
