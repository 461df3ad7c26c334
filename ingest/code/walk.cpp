#include "ingest/code/walk.hpp"

#include <algorithm>
#include <fstream>
#include <memory>
#include <system_error>

#include "ingest/code/gitignore.hpp"
#include "runtime/common/error.hpp"

namespace folio::ingest::code {
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMaxIgnoreFileBytes = uint64_t(1) << 20;

struct NamedReason {
  std::string_view name;
  std::string_view reason;
};

constexpr NamedReason kSkippedDirectories[] = {
    {".git", "version-control metadata"},       {".hg", "version-control metadata"},
    {".svn", "version-control metadata"},       {".bzr", "version-control metadata"},
    {"node_modules", "vendored dependencies"},  {"bower_components", "vendored dependencies"},
    {"jspm_packages", "vendored dependencies"}, {"vendor", "vendored dependencies"},
    {"third_party", "vendored dependencies"},   {"third-party", "vendored dependencies"},
    {"thirdparty", "vendored dependencies"},    {"__pycache__", "generated cache"},
    {".mypy_cache", "generated cache"},         {".pytest_cache", "generated cache"},
    {".ruff_cache", "generated cache"},         {".tox", "generated cache"},
    {".nox", "generated cache"},                {".gradle", "generated cache"},
    {".next", "build output"},                  {".nuxt", "build output"},
    {"build", "build output"},                  {"_build", "build output"},
    {"dist", "build output"},                   {"target", "build output"},
    {"out", "build output"},
};

std::string describe(const IgnorePattern& pattern) {
  return "ignored by " + pattern.origin + " (" + pattern.written + ")";
}

std::string read_small_file(const fs::path& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec || size > kMaxIgnoreFileBytes) return {};
  std::ifstream in(path, std::ios::binary);
  std::string text(size, '\0');
  in.read(text.data(), std::streamsize(size));
  text.resize(size_t(in.gcount()));
  return text;
}

class Walker {
 public:
  Walker(const fs::path& root, const WalkOptions& options) : root_(root), options_(options) {}

  WalkResult run() {
    std::error_code ec;
    auto status = fs::status(root_, ec);
    if (ec) fail(Errc::io, root_.string() + ": cannot read: " + ec.message());
    if (fs::is_regular_file(status)) {
      uint64_t size = fs::file_size(root_, ec);
      if (ec) fail(Errc::io, root_.string() + ": cannot read: " + ec.message());
      std::string name = root_.filename().string();
      if (size > options_.max_file_bytes) {
        skip(name, too_large(size));
      } else {
        result_.files.push_back({root_, name, size});
        result_.total_bytes = size;
      }
      return std::move(result_);
    }
    if (!fs::is_directory(status)) fail(Errc::io, root_.string() + ": not a file or directory");

    std::vector<const IgnoreFile*> chain;
    if (!options_.extra_ignores.empty()) {
      std::string joined;
      for (const auto& line : options_.extra_ignores) joined += line + "\n";
      chain.push_back(keep(IgnoreFile("", joined, "options"), "(extra_ignores)"));
    }
    if (options_.honour_gitignore) {
      std::string exclude = read_small_file(root_ / ".git" / "info" / "exclude");
      if (!exclude.empty()) chain.push_back(keep(IgnoreFile("", exclude, ".git/info/exclude"), ".git/info/exclude"));
    }
    walk(root_, "", 0, chain);
    return std::move(result_);
  }

 private:
  const IgnoreFile* keep(IgnoreFile file, const std::string& shown) {
    if (file.unused_lines() > 0)
      skip(shown, std::to_string(file.unused_lines()) +
                      " pattern line(s) not applied (over 4096 bytes, or beyond the first 10000 patterns)");
    ignore_files_.push_back(std::make_unique<IgnoreFile>(std::move(file)));
    return ignore_files_.back().get();
  }

  void skip(std::string path, std::string reason) { result_.skipped.push_back({std::move(path), std::move(reason)}); }

  std::string too_large(uint64_t size) const {
    return "larger than the " + std::to_string(options_.max_file_bytes) + "-byte limit (" + std::to_string(size) +
           " bytes)";
  }

  void walk(const fs::path& dir, const std::string& rel, uint32_t depth, std::vector<const IgnoreFile*> chain) {
    if (options_.honour_gitignore) {
      fs::path gitignore = dir / ".gitignore";
      std::error_code ec;
      if (fs::is_regular_file(gitignore, ec)) {
        std::string text = read_small_file(gitignore);
        std::string origin = rel.empty() ? ".gitignore" : rel + "/.gitignore";
        chain.push_back(keep(IgnoreFile(rel, text, origin), origin));
      }
    }

    struct Entry {
      std::string name;
      fs::file_status status;
      fs::path path;
    };
    std::vector<Entry> entries;
    std::error_code ec;
    fs::directory_iterator it(dir, fs::directory_options::none, ec);
    if (ec) {
      skip(rel.empty() ? "./" : rel + "/", "cannot read directory: " + ec.message());
      return;
    }
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      if (ec) break;
      std::error_code status_ec;
      entries.push_back({it->path().filename().string(), it->symlink_status(status_ec), it->path()});
    }
    if (ec) skip(rel.empty() ? "./" : rel + "/", "directory listing stopped early: " + ec.message());
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });

    for (const Entry& entry : entries) {
      std::string child = rel.empty() ? entry.name : rel + "/" + entry.name;
      if (fs::is_symlink(entry.status)) {
        skip(child, "symbolic link (not followed)");
        continue;
      }
      bool is_dir = fs::is_directory(entry.status);
      std::string shown = is_dir ? child + "/" : child;
      if (is_dir && (entry.name == ".git" || entry.name == ".hg" || entry.name == ".svn" || entry.name == ".bzr")) {
        skip(shown, "version-control metadata");
        continue;
      }
      if (options_.honour_gitignore || !options_.extra_ignores.empty()) {
        IgnoreVerdict verdict = ignore_verdict(chain, child, is_dir);
        if (verdict.ignored) {
          skip(shown, describe(*verdict.pattern));
          continue;
        }
      }
      if (is_dir) {
        if (options_.skip_vendored) {
          std::string reason = vendored_directory_reason(entry.name);
          if (reason.empty() && fs::exists(entry.path / "pyvenv.cfg", ec)) reason = "Python virtual environment";
          if (!reason.empty()) {
            skip(shown, reason);
            continue;
          }
        }
        if (depth + 1 > options_.max_depth) {
          skip(shown, "deeper than the limit of " + std::to_string(options_.max_depth) + " directory levels");
          continue;
        }
        walk(entry.path, child, depth + 1, chain);
        continue;
      }
      if (!fs::is_regular_file(entry.status)) {
        skip(shown, "not a regular file");
        continue;
      }
      std::error_code size_ec;
      uint64_t size = fs::file_size(entry.path, size_ec);
      if (size_ec) {
        skip(shown, "cannot read: " + size_ec.message());
      } else if (size > options_.max_file_bytes) {
        skip(shown, too_large(size));
      } else if (result_.files.size() >= options_.max_files) {
        skip(shown, "over the limit of " + std::to_string(options_.max_files) + " files");
      } else if (result_.total_bytes + size > options_.max_total_bytes) {
        skip(shown, "over the total size limit of " + std::to_string(options_.max_total_bytes) + " bytes");
      } else {
        result_.files.push_back({entry.path, child, size});
        result_.total_bytes += size;
      }
    }
  }

  fs::path root_;
  const WalkOptions& options_;
  WalkResult result_;
  std::vector<std::unique_ptr<IgnoreFile>> ignore_files_;
};

}  // namespace

std::string vendored_directory_reason(std::string_view name) {
  for (const auto& entry : kSkippedDirectories)
    if (name == entry.name) return std::string(entry.reason) + " (" + std::string(name) + "/)";
  if (name.starts_with("cmake-build-")) return "build output (" + std::string(name) + "/)";
  return {};
}

WalkResult walk_tree(const fs::path& root, const WalkOptions& options) { return Walker(root, options).run(); }

}  // namespace folio::ingest::code
