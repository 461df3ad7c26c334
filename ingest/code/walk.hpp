// Directory walk for code ingestion: which files of a tree to read.
//
// Path-level policy only (content checks such as binary or generated files are
// made when a file is read, see file_checks.hpp):
//   - .gitignore files (root and nested) are honoured, with the semantics
//     documented in gitignore.hpp; the root's .git/info/exclude too
//   - vendored, generated and build directories are skipped by default:
//     node_modules, bower_components, vendor, third_party, .git/.hg/.svn,
//     __pycache__ and tool caches, build/_build/cmake-build-*/dist/target/out,
//     Python virtual environments (a directory holding pyvenv.cfg)
//   - symbolic links are not followed; sockets, devices and fifos are skipped
//   - files over a size limit, directories deeper than a depth limit, files past
//     a count or total-size limit are skipped
// Every skipped entry is listed with its reason; an ignored or vendored
// directory is one entry (its contents are not enumerated). Output is sorted by
// path, so two walks of the same tree agree.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace folio::ingest::code {

struct WalkOptions {
  bool honour_gitignore = true;
  bool skip_vendored = true;     // the directory names listed above
  uint64_t max_file_bytes = uint64_t(4) << 20;
  uint64_t max_total_bytes = uint64_t(4) << 30;
  size_t max_files = 1000000;
  uint32_t max_depth = 64;       // directory levels below the root
  // Extra gitignore-syntax patterns applied at the root, before any .gitignore
  // ("*.log", "!keep.log", "docs/").
  std::vector<std::string> extra_ignores;
};

struct WalkedFile {
  std::filesystem::path path;  // root / relative
  std::string relative;        // '/'-separated, relative to the root
  uint64_t size = 0;
};

struct SkippedPath {
  std::string path;    // relative to the root ('/'-separated); directories end in '/'
  std::string reason;  // "ignored by .gitignore:3 (build/)", "vendored directory", ...
};

struct WalkResult {
  std::vector<WalkedFile> files;
  std::vector<SkippedPath> skipped;
  uint64_t total_bytes = 0;
};

// Walks `root` (a directory, or a single file which is then the only entry).
// Throws folio::Error(Errc::io) when the root itself cannot be read.
WalkResult walk_tree(const std::filesystem::path& root, const WalkOptions& options = {});

// Why `name` (a directory's own name) is skipped as vendored/build output, or
// empty. Exposed for tests.
std::string vendored_directory_reason(std::string_view name);

}  // namespace folio::ingest::code
