// Recall of code anchors against Universal Ctags on a real tree: every
// function/class-like definition ctags reports for a file we parsed must be one
// of our symbols with the same name whose name line (or first line) is the line
// ctags gives. Used by the recall tests and by bench/ingest_code's recall tool.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace folio::ingest::code::recall {

struct Result {
  size_t tags = 0;     // ctags definitions in files we parsed as code
  size_t matched = 0;  // ... that are anchors of ours on the same line
  size_t files = 0;    // files parsed as code
  std::map<std::string, std::pair<size_t, size_t>> by_language;  // ctags language -> (matched, total)
  std::vector<std::string> misses;                               // "file:line kind name", first few
  std::vector<std::string> fallbacks;  // code files kept as plain text (parse over budget): their notes
  double value() const { return tags == 0 ? 0.0 : double(matched) / double(tags); }
  std::string describe(const std::string& what) const;  // multi-line summary
};

// Ingests `root` (default walk policy, generated files included so that the
// parser is measured on every source file) and compares with `ctags -L`.
// Throws folio::Error when ctags cannot be run.
Result measure(const std::filesystem::path& root, size_t max_misses = 40);

// "Universal Ctags 5.9.0, ..." or "" when ctags is missing.
std::string ctags_version();

// The newest /usr/lib/python3.N holding os.py, or empty.
std::filesystem::path newest_python_stdlib();

}  // namespace folio::ingest::code::recall
