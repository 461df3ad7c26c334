// .gitignore semantics, the directory walk's skip policy, content checks, and
// tree ingestion (parallel, deterministic, every skip listed).
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <unistd.h>

#include "ingest/code/file_checks.hpp"
#include "ingest/code/gitignore.hpp"
#include "ingest/code/ingest_code.hpp"
#include "ingest/code/walk.hpp"

using namespace folio::ingest::code;
namespace fs = std::filesystem;

namespace {

class TempTree {
 public:
  TempTree() {
    std::random_device rd;
    root_ = fs::temp_directory_path() /
            ("folio-code-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(root_);
  }
  ~TempTree() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  void write(const std::string& relative, std::string_view content) const {
    fs::path path = root_ / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary).write(content.data(), std::streamsize(content.size()));
  }
  const fs::path& root() const { return root_; }

 private:
  fs::path root_;
};

std::vector<std::string> relative_files(const WalkResult& r) {
  std::vector<std::string> out;
  for (const auto& f : r.files) out.push_back(f.relative);
  return out;
}

std::string reason_for(const WalkResult& r, std::string_view path) {
  for (const auto& s : r.skipped)
    if (s.path == path) return s.reason;
  return {};
}

bool ignored(std::string_view gitignore, std::string_view path, bool is_dir = false) {
  IgnoreFile file("", gitignore, ".gitignore");
  const IgnoreFile* chain[] = {&file};
  return ignore_verdict(chain, path, is_dir).ignored;
}

}  // namespace

TEST_CASE("glob_match: stars, classes, double stars, escapes") {
  CHECK(glob_match("*.o", "main.o"));
  CHECK_FALSE(glob_match("*.o", "main.c"));
  CHECK_FALSE(glob_match("*.o", "dir/main.o"));  // '*' does not cross '/'
  CHECK(glob_match("a?c", "abc"));
  CHECK_FALSE(glob_match("a?c", "a/c"));
  CHECK(glob_match("[a-c]x", "bx"));
  CHECK_FALSE(glob_match("[!a-c]x", "bx"));
  CHECK(glob_match("[^a-c]x", "dx"));
  CHECK(glob_match("**/foo", "foo"));
  CHECK(glob_match("**/foo", "a/b/foo"));
  CHECK(glob_match("a/**/b", "a/b"));
  CHECK(glob_match("a/**/b", "a/x/y/b"));
  CHECK_FALSE(glob_match("a/**/b", "a/xb"));
  CHECK(glob_match("abc/**", "abc/x/y"));
  CHECK_FALSE(glob_match("abc/**", "abc"));
  CHECK(glob_match("\\*lit", "*lit"));
  CHECK_FALSE(glob_match("\\*lit", "xlit"));
  CHECK(glob_match("[unclosed", "[unclosed"));
  // Pathological patterns stay polynomial.
  CHECK_FALSE(glob_match("*a*a*a*a*a*a*a*a*a*a*b", std::string(200, 'a')));
}

TEST_CASE("gitignore: anchoring, directories, negation, comments, escapes") {
  CHECK(ignored("*.log\n", "deep/dir/x.log"));
  CHECK(ignored("build/\n", "build", true));
  CHECK_FALSE(ignored("build/\n", "build", false));    // directory-only pattern, a file
  CHECK(ignored("build/\n", "src/build", true));       // unanchored: any depth
  CHECK(ignored("/build\n", "build", true));
  CHECK_FALSE(ignored("/build\n", "src/build", true)); // anchored to the root
  CHECK(ignored("doc/*.txt\n", "doc/a.txt"));
  CHECK_FALSE(ignored("doc/*.txt\n", "x/doc/a.txt"));  // a middle slash anchors
  CHECK(ignored("*.log\n!keep.log\n", "a.log"));
  CHECK_FALSE(ignored("*.log\n!keep.log\n", "keep.log"));
  CHECK(ignored("!keep.log\n*.log\n", "keep.log"));    // the last match wins
  CHECK_FALSE(ignored("# comment\n\n", "# comment"));
  CHECK(ignored("\\#hash\n", "#hash"));
  CHECK(ignored("\\!bang\n", "!bang"));
  CHECK(ignored("trailing   \n", "trailing"));
  CHECK(ignored("crlf\r\n", "crlf"));

  // A nested file applies below its own directory and overrides its parent.
  IgnoreFile root("", "*.gen\n", ".gitignore");
  IgnoreFile sub("src", "!keep.gen\n/local\n", "src/.gitignore");
  const IgnoreFile* chain[] = {&root, &sub};
  CHECK(ignore_verdict(chain, "src/a.gen", false).ignored);
  CHECK_FALSE(ignore_verdict(chain, "src/keep.gen", false).ignored);
  CHECK(ignore_verdict(chain, "src/local", false).ignored);
  CHECK_FALSE(ignore_verdict(chain, "local", false).ignored);
  // Hostile sizes are bounded, and what is not applied is counted.
  std::string many;
  for (int i = 0; i < 10005; ++i) {
    many += 'p';
    many += std::to_string(i);
    many += '\n';
  }
  many += std::string(5000, 'x') + "\n";
  IgnoreFile big("", many, ".gitignore");
  CHECK(big.patterns().size() == 10000);
  CHECK(big.unused_lines() == 6);

  IgnoreVerdict v = ignore_verdict(chain, "src/a.gen", false);
  REQUIRE(v.pattern != nullptr);
  CHECK(v.pattern->origin == ".gitignore:1");
}

TEST_CASE("content checks: binary, minified, generated") {
  CHECK(binary_reason(std::string("abc\0def", 7)).find("NUL byte at offset 3") != std::string::npos);
  CHECK(binary_reason("plain text\n").empty());
  CHECK(binary_reason("caf\xC3\xA9 ok\n").empty());
  std::string latin1_mostly(100, 'a');
  latin1_mostly[10] = '\xE9';  // one stray Latin-1 byte is tolerated
  CHECK(binary_reason(latin1_mostly).empty());
  std::mt19937 rng(7);
  std::string noise(4096, '\0');
  for (auto& ch : noise) ch = char(0x80 + rng() % 0x80);
  CHECK(binary_reason(noise).find("not text") != std::string::npos);

  CHECK(!minified_reason("lib/jquery.min.js", "x").empty());
  std::string one_line = "var a=1;" + std::string(5000, 'x') + "\n";
  CHECK(!minified_reason("bundle.js", one_line).empty());
  CHECK(minified_reason("bundle.py", one_line).empty());
  CHECK(minified_reason("app.js", "function f() {\n  return 1;\n}\n").empty());

  CHECK(generated_reason("// Code generated by protoc-gen-go. DO NOT EDIT.\npackage x\n").find("line 1") !=
        std::string::npos);
  CHECK(!generated_reason("# -*- coding: utf-8 -*-\n# Autogenerated by Sphinx\n").empty());
  CHECK(generated_reason("int main() {}\n").empty());
  std::string late = std::string(20, '\n') + "// @generated\n";
  CHECK(generated_reason(late).empty());  // only the head counts
}

TEST_CASE("walk: .gitignore files, vendored directories, symlinks, limits; every skip has a reason") {
  TempTree tree;
  tree.write(".gitignore", "*.log\nbuild*/\n!important.log\n");
  tree.write("a.py", "def a(): pass\n");
  tree.write("debug.log", "x");
  tree.write("important.log", "kept");
  tree.write("build-release/out.cpp", "int x;");
  tree.write("src/.gitignore", "/local.cpp\n!*.log\n");
  tree.write("src/local.cpp", "int local;");
  tree.write("src/main.cpp", "int main() {}");
  tree.write("src/trace.log", "re-included by src/.gitignore");
  tree.write("src/deep/local.cpp", "not anchored here");
  tree.write("node_modules/pkg/index.js", "module.exports = 1;");
  tree.write("vendor/lib.go", "package lib");
  tree.write("__pycache__/a.cpython-311.pyc", "x");
  tree.write(".git/HEAD", "ref: refs/heads/main");
  tree.write("venv/pyvenv.cfg", "home = /usr/bin");
  tree.write("venv/lib/site.py", "x = 1");
  tree.write("big.txt", std::string(2000, 'b'));
  fs::create_symlink("a.py", tree.root() / "link.py");

  WalkOptions options;
  options.max_file_bytes = 1000;
  WalkResult r = walk_tree(tree.root(), options);
  std::vector<std::string> expected = {".gitignore", "a.py", "important.log", "src/.gitignore",
                                       "src/deep/local.cpp", "src/main.cpp", "src/trace.log"};
  CHECK(relative_files(r) == expected);
  CHECK(reason_for(r, "debug.log") == "ignored by .gitignore:1 (*.log)");
  CHECK(reason_for(r, "build-release/") == "ignored by .gitignore:2 (build*/)");
  CHECK(reason_for(r, "src/local.cpp") == "ignored by src/.gitignore:1 (/local.cpp)");
  CHECK(reason_for(r, "node_modules/").find("vendored") != std::string::npos);
  CHECK(reason_for(r, "vendor/").find("vendored") != std::string::npos);
  CHECK(reason_for(r, "__pycache__/").find("cache") != std::string::npos);
  CHECK(reason_for(r, ".git/") == "version-control metadata");
  CHECK(reason_for(r, "venv/") == "Python virtual environment");
  CHECK(reason_for(r, "link.py") == "symbolic link (not followed)");
  CHECK(reason_for(r, "big.txt").find("limit") != std::string::npos);
  CHECK(r.skipped.size() == 10);
  for (const auto& s : r.skipped) CHECK_MESSAGE(!s.reason.empty(), s.path);

  // Switching policies off brings the entries back.
  WalkOptions open;
  open.honour_gitignore = false;
  open.skip_vendored = false;
  WalkResult all = walk_tree(tree.root(), open);
  auto files = relative_files(all);
  CHECK(std::find(files.begin(), files.end(), "debug.log") != files.end());
  CHECK(std::find(files.begin(), files.end(), "node_modules/pkg/index.js") != files.end());
  CHECK(std::find(files.begin(), files.end(), ".git/HEAD") == files.end());  // never walked

  // Count and depth limits.
  WalkOptions few;
  few.max_files = 2;
  WalkResult limited = walk_tree(tree.root(), few);
  CHECK(limited.files.size() == 2);
  CHECK(reason_for(limited, "important.log").find("limit of 2 files") != std::string::npos);
  WalkOptions shallow;
  shallow.max_depth = 1;
  CHECK(reason_for(walk_tree(tree.root(), shallow), "src/deep/").find("deeper") != std::string::npos);

  // Extra patterns from the caller.
  WalkOptions extra;
  extra.extra_ignores = {"*.cpp"};
  CHECK(reason_for(walk_tree(tree.root(), extra), "src/main.cpp") == "ignored by options:1 (*.cpp)");
}

TEST_CASE("tree ingestion: code, text fallback, content skips, same result on any thread count") {
  TempTree tree;
  tree.write("pkg/__init__.py", "");
  tree.write("pkg/mod.py", "class A:\n    def m(self):\n        return 1\n");
  tree.write("src/store.cpp", "namespace s {\nstruct Store { void put(); };\nvoid Store::put() {}\n}\n");
  tree.write("notes.txt", "first paragraph\n\nsecond paragraph\n");
  tree.write("gen.go", "// Code generated by stringer. DO NOT EDIT.\npackage x\n");
  tree.write("app.min.js", "var a=1;");
  tree.write("blob.bin", std::string("\x7f" "ELF\0\0\0", 7));
  tree.write("tool", "#!/usr/bin/env python3\ndef main():\n    pass\n");

  CodeIngestOptions options;
  options.keep_outlines = true;
  options.threads = 1;
  CodeIngestResult one = ingest_code_tree(tree.root(), options);
  options.threads = 4;
  size_t progress_calls = 0;
  options.progress = [&](size_t done, size_t total, std::string_view) {
    ++progress_calls;
    CHECK(done <= total);
  };
  CodeIngestResult four = ingest_code_tree(tree.root(), options);
  CHECK(progress_calls == four.stats.files);

  REQUIRE(one.documents.size() == four.documents.size());
  for (size_t i = 0; i < one.documents.size(); ++i) {
    CHECK(one.documents[i].source == four.documents[i].source);
    CHECK(one.documents[i].content_hash == four.documents[i].content_hash);
    CHECK(one.documents[i].blocks.size() == four.documents[i].blocks.size());
  }
  CHECK(one.stats.code_documents == 4);  // __init__.py, mod.py, store.cpp, tool
  CHECK(one.stats.text_documents == 1);  // notes.txt
  CHECK(one.stats.skipped == 3);
  std::vector<std::string> reasons;
  for (const auto& s : one.skipped) reasons.push_back(fs::path(s.source).filename().string() + ": " + s.reason);
  std::sort(reasons.begin(), reasons.end());
  REQUIRE(reasons.size() == 3);
  CHECK(reasons[0].starts_with("app.min.js: minified"));
  CHECK(reasons[1].starts_with("blob.bin: binary file"));
  CHECK(reasons[2].starts_with("gen.go: generated file"));

  // Qualified names use the module path; the shebang script is Python.
  bool found_method = false, found_tool = false;
  for (const auto& outline : one.outlines)
    for (const auto& s : outline.symbols) {
      found_method = found_method || s.qualified_name == "pkg.mod.A.m";
      found_tool = found_tool || s.qualified_name == "tool.main";
    }
  CHECK(found_method);
  CHECK(found_tool);

  // Into a corpus: documents and skipped items both arrive.
  folio::ingest::Corpus corpus;
  add_to_corpus(std::move(four), corpus);
  CHECK(corpus.size() == 5);
  CHECK(corpus.skipped().size() == 3);
}
