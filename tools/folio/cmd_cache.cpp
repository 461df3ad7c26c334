// `folio cache list|stats|prune|verify --store PATH`: look after a KV-snapshot
// store (runtime/store). Everything here goes through folio::store::Store, so
// the CLI obeys the same locking, budget and fault rules as the SDK.
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "runtime/common/error.hpp"
#include "runtime/common/human_bytes.hpp"
#include "runtime/common/json.hpp"
#include "runtime/store/store.hpp"
#include "tools/folio/arg_reader.hpp"
#include "tools/folio/commands.hpp"

namespace folio::cli {

namespace {

constexpr const char* kUsage =
    "usage: folio cache <list|stats|prune|verify> --store PATH [options]\n"
    "\n"
    "  list     snapshots, most recently used first: blocks, tokens, bytes, label\n"
    "  stats    file size, pages in use, budget, counts\n"
    "  prune    evict least-recently-used snapshots until the store fits\n"
    "           --max-bytes N[K|M|G|T]   (required unless --all)\n"
    "           --all                    remove every snapshot\n"
    "  verify   read every stored part and check its header and checksum;\n"
    "           removes bad parts (and what depends on them) unless --keep-bad\n"
    "\n"
    "  --store PATH   the store's SQLite file (required)\n"
    "  --json         one JSON document on stdout instead of text\n"
    "  -h, --help     this help\n"
    "\n"
    "Exit status: 0 success; 1 failure (verify: bad parts were found); 2 bad usage.\n";

uint64_t parse_size(std::string_view text) {
  if (text.empty()) fail(Errc::invalid_argument, "--max-bytes needs a size such as 512M or 20G");
  uint64_t multiplier = 1;
  switch (text.back()) {
    case 'K': case 'k': multiplier = uint64_t(1) << 10; break;
    case 'M': case 'm': multiplier = uint64_t(1) << 20; break;
    case 'G': case 'g': multiplier = uint64_t(1) << 30; break;
    case 'T': case 't': multiplier = uint64_t(1) << 40; break;
    default: break;
  }
  const std::string_view digits = multiplier == 1 ? text : text.substr(0, text.size() - 1);
  uint64_t value = 0;
  const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (r.ec != std::errc() || r.ptr != digits.data() + digits.size() || digits.empty() ||
      value > UINT64_MAX / multiplier)
    fail(Errc::invalid_argument, "--max-bytes: '" + std::string(text) + "' is not a size such as 512M or 20G");
  return value * multiplier;
}

std::string when(int64_t unix_seconds) {
  const std::time_t t = std::time_t(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

std::string json_quoted(std::string_view s) {
  std::string out;
  json::append_quoted(out, s);
  return out;
}

int do_list(store::Store& s, bool as_json) {
  const auto list = s.list();
  if (as_json) {
    std::string out = "[";
    for (size_t i = 0; i < list.size(); ++i) {
      const auto& x = list[i];
      out += std::string(i ? "," : "") + "\n  {\"id\": " + std::to_string(x.id) + ", \"head\": \"" + x.head.hex() +
             "\", \"model\": \"" + x.model.hex() + "\", \"blocks\": " + std::to_string(x.n_blocks) +
             ", \"tokens\": " + std::to_string(x.n_blocks * 64) + ", \"bytes\": " + std::to_string(x.bytes) +
             ", \"label\": " + json_quoted(x.label) + ", \"created_at\": " + std::to_string(x.created_at) +
             ", \"used_at\": " + std::to_string(x.used_at) + "}";
    }
    out += list.empty() ? "]\n" : "\n]\n";
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  std::printf("%-6s %-16s %-16s %8s %10s %11s  %-20s %s\n", "id", "head", "model", "blocks", "tokens", "bytes",
              "last used (UTC)", "label");
  for (const auto& x : list)
    std::printf("%-6" PRId64 " %-16s %-16s %8" PRIu64 " %10" PRIu64 " %11s  %-20s %s\n", x.id,
                x.head.hex().substr(0, 16).c_str(), x.model.hex().substr(0, 16).c_str(), x.n_blocks,
                x.n_blocks * 64, human_bytes(x.bytes).c_str(), when(x.used_at).c_str(), x.label.c_str());
  std::printf("%zu snapshot%s\n", list.size(), list.size() == 1 ? "" : "s");
  return 0;
}

int do_stats(store::Store& s, bool as_json) {
  const auto st = s.stats();
  if (as_json) {
    std::printf(
        "{\"path\": %s, \"schema_version\": %d, \"page_size\": %" PRIu64 ", \"file_bytes\": %" PRIu64
        ", \"used_bytes\": %" PRIu64 ", \"wal_bytes\": %" PRIu64 ", \"budget_bytes\": %" PRIu64
        ", \"snapshots\": %" PRIu64 ", \"blocks\": %" PRIu64 ", \"parts\": %" PRIu64 ", \"payload_bytes\": %" PRIu64
        "}\n",
        json_quoted(s.path().string()).c_str(), st.schema_version, st.page_size, st.file_bytes, st.used_bytes,
        st.wal_bytes, st.budget_bytes, st.snapshots, st.blocks, st.parts, st.payload_bytes);
    return 0;
  }
  std::printf("store          %s\n", s.path().string().c_str());
  std::printf("schema         %d (page size %" PRIu64 ")\n", st.schema_version, st.page_size);
  std::printf("file           %s (%s in use, WAL %s)\n", human_bytes(st.file_bytes).c_str(),
              human_bytes(st.used_bytes).c_str(), human_bytes(st.wal_bytes).c_str());
  std::printf("snapshots      %" PRIu64 "\n", st.snapshots);
  std::printf("blocks         %" PRIu64 " (%" PRIu64 " tokens), %" PRIu64 " parts\n", st.blocks, st.blocks * 64,
              st.parts);
  std::printf("payload        %s\n", human_bytes(st.payload_bytes).c_str());
  return 0;
}

int do_prune(store::Store& s, uint64_t max_bytes, bool as_json) {
  const auto r = s.prune(max_bytes);
  if (as_json)
    std::printf("{\"evicted\": %" PRIu64 ", \"used_bytes_before\": %" PRIu64 ", \"used_bytes_after\": %" PRIu64 "}\n",
                r.snapshots_evicted, r.used_bytes_before, r.used_bytes_after);
  else
    std::printf("evicted %" PRIu64 " snapshot%s: %s -> %s in use\n", r.snapshots_evicted,
                r.snapshots_evicted == 1 ? "" : "s", human_bytes(r.used_bytes_before).c_str(),
                human_bytes(r.used_bytes_after).c_str());
  return 0;
}

int do_verify(store::Store& s, bool remove_bad, bool as_json) {
  const auto r = s.verify(remove_bad);
  const bool clean = r.bad_parts == 0 && r.sqlite_ok;
  if (as_json) {
    std::string out = "{\"parts_checked\": " + std::to_string(r.parts_checked) +
                      ", \"bytes_checked\": " + std::to_string(r.bytes_checked) +
                      ", \"bad_parts\": " + std::to_string(r.bad_parts) +
                      ", \"sqlite_ok\": " + (r.sqlite_ok ? "true" : "false") +
                      ", \"removed\": " + (remove_bad && r.bad_parts ? "true" : "false") + ", \"problems\": [";
    for (size_t i = 0; i < r.problems.size(); ++i) out += (i ? ", " : "") + json_quoted(r.problems[i]);
    out += "]}\n";
    std::fputs(out.c_str(), stdout);
  } else {
    for (const auto& p : r.problems) std::printf("bad: %s\n", p.c_str());
    std::printf("%" PRIu64 " parts (%s) checked, %" PRIu64 " bad%s; SQLite structure %s\n", r.parts_checked,
                human_bytes(r.bytes_checked).c_str(), r.bad_parts,
                r.bad_parts == 0 ? "" : (remove_bad ? " (removed)" : " (kept: --keep-bad)"),
                r.sqlite_ok ? "ok" : "DAMAGED");
  }
  return clean ? 0 : 1;
}

}  // namespace

int run_cache(Args args) {
  if (args.size() < 2 || std::string_view(args[1]) == "--help" || std::string_view(args[1]) == "-h") {
    std::fputs(kUsage, args.size() < 2 ? stderr : stdout);
    return args.size() < 2 ? 2 : 0;
  }
  const std::string_view action = args[1];
  if (action != "list" && action != "stats" && action != "prune" && action != "verify") {
    std::fprintf(stderr, "folio cache: unknown action '%.*s'\n\n%s", int(action.size()), action.data(), kUsage);
    return 2;
  }
  std::string path;
  bool as_json = false, all = false, keep_bad = false;
  std::optional<uint64_t> max_bytes;
  try {
    ArgReader reader(args.subspan(1), "cache");
    while (!reader.done()) {
      const std::string_view opt = reader.next();
      if (opt == "--store") path = std::string(reader.value(opt));
      else if (opt == "--json") as_json = true;
      else if (opt == "--all" && action == "prune") all = true;
      else if (opt == "--max-bytes" && action == "prune") max_bytes = parse_size(reader.value(opt));
      else if (opt == "--keep-bad" && action == "verify") keep_bad = true;
      else if (opt == "--help" || opt == "-h") {
        std::fputs(kUsage, stdout);
        return 0;
      } else reader.unknown(opt);
    }
    if (path.empty()) fail(Errc::invalid_argument, "--store PATH is required");
    if (action == "prune" && !all && !max_bytes) fail(Errc::invalid_argument, "prune needs --max-bytes N or --all");
  } catch (const Error& e) {
    std::fprintf(stderr, "folio cache: %s\n", e.what());
    return 2;
  }
  if (!std::filesystem::exists(path)) {
    // Never create a store as a side effect of inspecting one.
    std::fprintf(stderr, "folio cache: %s: no such store\n", path.c_str());
    return 1;
  }
  store::StoreOptions options;
  options.read_only = action == "list" || action == "stats" || (action == "verify" && keep_bad);
  options.report = [](const std::string& line) { std::fprintf(stderr, "folio cache: %s\n", line.c_str()); };
  auto s = store::Store::open(path, options);
  if (action == "list") return do_list(s, as_json);
  if (action == "stats") return do_stats(s, as_json);
  if (action == "prune") return do_prune(s, all ? 0 : *max_bytes, as_json);
  return do_verify(s, !keep_bad, as_json);
}

}  // namespace folio::cli
