// .gitignore rules, the subset of gitignore(5) a directory walk needs:
//
//   - one pattern per line; blank lines and lines starting with '#' are ignored;
//     "\#" and "\!" escape a leading '#' or '!'; trailing spaces are dropped
//     unless escaped ("\ ")
//   - '!' negates: a later matching negation re-includes the path
//   - a trailing '/' matches directories only
//   - a pattern with a '/' at its start or middle is anchored to the directory of
//     its .gitignore; otherwise it matches the name at any depth below it
//   - '*' and '?' do not match '/'; "[a-z]", "[!x]" / "[^x]" classes; '\' escapes
//   - "**/" at the start or "/**/" in the middle match zero or more directories;
//     "/**" at the end matches everything inside
//   - within one file the last matching pattern wins; a .gitignore deeper in the
//     tree overrides its ancestors (the walk keeps one IgnoreRules per directory)
//   - as in git, a file inside an ignored directory cannot be re-included (the
//     walk never enters an ignored directory)
// Not supported: core.excludesFile, $GIT_DIR/info/exclude of nested repositories,
// case-insensitive matching (core.ignorecase).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace folio::ingest::code {

struct IgnorePattern {
  std::string glob;    // pattern without '!', leading '/' and trailing '/'
  bool negated = false;
  bool directory_only = false;
  bool anchored = false;  // matched against the path relative to `base`, not the name
  std::string written;    // the pattern as written ("!/build/")
  std::string origin;     // ".gitignore:12" (for skip reasons)
};

// The patterns of one .gitignore file (or of extra patterns given by the caller),
// relative to `base` (a directory path relative to the walk root, "" for the root,
// no trailing slash).
class IgnoreFile {
 public:
  IgnoreFile() = default;
  // Parses `text`. `origin` names the file in match reasons ("src/.gitignore").
  IgnoreFile(std::string base, std::string_view text, std::string_view origin);

  const std::string& base() const noexcept { return base_; }
  std::span<const IgnorePattern> patterns() const noexcept { return patterns_; }
  bool empty() const noexcept { return patterns_.empty(); }
  // Pattern lines not applied: longer than 4096 bytes, or beyond the first
  // 10 000 patterns (bounds on a hostile file; the walk reports them).
  size_t unused_lines() const noexcept { return unused_lines_; }

  // Last pattern of this file matching `path` (relative to the walk root, '/'
  // separators), or nullptr. `path` must lie under base().
  const IgnorePattern* match(std::string_view path, bool is_directory) const;

 private:
  std::string base_;
  std::vector<IgnorePattern> patterns_;
  size_t unused_lines_ = 0;
};

// Matches `text` against a gitignore glob (see the rules above). Exposed for tests.
bool glob_match(std::string_view glob, std::string_view text);

// The verdict for one path given the IgnoreFiles that apply to it, outermost
// first: the last matching pattern of the deepest file that has one wins.
struct IgnoreVerdict {
  bool ignored = false;
  const IgnorePattern* pattern = nullptr;  // the deciding pattern, if any
};
IgnoreVerdict ignore_verdict(std::span<const IgnoreFile* const> files, std::string_view path, bool is_directory);

}  // namespace folio::ingest::code
