// bench_ingest_pdf: pages per second of Folio's PDF ingestion (text with
// positions and fonts, reading order, running-line removal, headings,
// paragraphs, definitions) against `pdftotext` from the same Poppler, on the
// same files, in the same run. Also reports Poppler's own in-process plain-text
// extraction (poppler::page::text) as the floor of what any Poppler-based
// extractor costs.
//
//   bench_ingest_pdf [--reps N] [--json OUT.json] [PDF...]
//
// Folio runs three times per repetition: one thread; all hardware threads
// (pages extracted in parallel); one thread without Poppler's font names
// (PdfOptions::font_info = false: sizes from boxes, no bold). Without PDFs it typesets the licence PDFs (tests/ingest/make_license_pdfs.py)
// into a temporary directory and adds the real PDFs shipped in /usr/share/doc
// when present. Times are the median of N repetitions per file (default 5).
// Besides wall time, CPU time (user + system) is measured for the one-thread
// Folio run (this thread) and for pdftotext (the child, from wait4): the build
// machine is shared, and under load a process spawn suffers far more than code
// already running, so the wall ratio drifts with the load while the CPU ratio
// does not.
#include <poppler/cpp/poppler-document.h>
#include <poppler/cpp/poppler-global.h>
#include <poppler/cpp/poppler-page.h>
#include <poppler/cpp/poppler-version.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ingest/pdf.hpp"
#include "ingest/text_util.hpp"
#include "runtime/common/error.hpp"
#include "runtime/common/json.hpp"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double cpu_seconds(const rusage& u) {
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

// CPU seconds this thread has used so far.
double thread_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  return cpu_seconds(u);
}

// Runs argv to completion; `cpu_s` (optional) receives the child's CPU time.
int run_process(const std::vector<std::string>& argv, double* cpu_s = nullptr) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return -1;
  int status = 0;
  rusage usage{};
  if (wait4(pid, &status, 0, &usage) < 0) return -1;
  if (cpu_s) *cpu_s = cpu_seconds(usage);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("model name")) return line.substr(line.find(':') + 2);
  return "unknown";
}

std::string load_average() {
  std::string load;
  std::getline(std::ifstream("/proc/loadavg") >> std::ws, load);
  return load;
}

struct FileResult {
  std::string path;
  uint32_t pages = 0;
  size_t blocks = 0, anchors = 0;
  double folio_s = 0, folio_mt_s = 0, folio_fast_s = 0, pdftotext_s = 0, poppler_text_s = 0;
  double folio_cpu_s = 0, pdftotext_cpu_s = 0;
};

}  // namespace

int main(int argc, char** argv) {
  int reps = 5;
  std::string json_out;
  std::vector<std::string> files;
  std::string command;
  for (int i = 0; i < argc; ++i) {
    if (i) command += ' ';
    command += argv[i];
  }
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--reps" && i + 1 < argc) reps = std::max(1, std::atoi(argv[++i]));
    else if (a == "--json" && i + 1 < argc) json_out = argv[++i];
    else if (a == "-h" || a == "--help") {
      std::puts("usage: bench_ingest_pdf [--reps N] [--json OUT.json] [PDF...]");
      return 0;
    } else files.push_back(a);
  }
  fs::path tmp;
  if (files.empty()) {
    tmp = fs::temp_directory_path() / ("folio-bench-pdf-" + std::to_string(getpid()));
    const std::string script = std::string(FOLIO_SOURCE_DIR) + "/tests/ingest/make_license_pdfs.py";
    if (run_process({"python3", script, tmp.string()}) != 0) {
      std::fprintf(stderr, "bench_ingest_pdf: %s failed\n", script.c_str());
      return 1;
    }
    for (const char* name : {"GPL-3-1col", "GPL-3-2col", "Apache-2.0-1col", "Apache-2.0-2col", "MPL-2.0-1col",
                             "MPL-2.0-2col"})
      files.push_back((tmp / (std::string(name) + ".pdf")).string());
    for (const char* real : {"/usr/share/doc/libtasn1-doc/libtasn1.pdf",
                             "/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf"})
      if (fs::exists(real)) files.push_back(real);
  }
  poppler::set_debug_error_function([](const std::string&, void*) {}, nullptr);
  const std::string load_at_start = load_average();

  std::vector<FileResult> results;
  for (const std::string& f : files) {
    FileResult r;
    r.path = f;
    const std::string bytes = folio::ingest::read_file_limited(f, folio::ingest::Limits{});
    std::vector<double> t_folio, t_folio_mt, t_folio_fast, t_pdftotext, t_text, c_folio, c_pdftotext;
    folio::ingest::PdfOptions one_thread;
    one_thread.threads = 1;
    folio::ingest::PdfOptions fast = one_thread;
    fast.font_info = false;
    for (int rep = 0; rep <= reps; ++rep) {  // rep 0 warms caches and is not counted
      auto tf = Clock::now();
      (void)folio::ingest::parse_pdf(bytes, f, {}, fast);  // no font names: sizes from boxes, no weights
      auto tm = Clock::now();
      (void)folio::ingest::parse_pdf(bytes, f);  // all hardware threads
      const double cpu0 = thread_cpu_seconds();  // one_thread runs on this thread
      auto t0 = Clock::now();
      const folio::ingest::Document d = folio::ingest::parse_pdf(bytes, f, {}, one_thread);
      auto t1 = Clock::now();
      const double folio_cpu = thread_cpu_seconds() - cpu0;
      double pdftotext_cpu = 0;
      if (run_process({"pdftotext", "-q", f, "/dev/null"}, &pdftotext_cpu) != 0) {
        std::fprintf(stderr, "bench_ingest_pdf: pdftotext failed on %s\n", f.c_str());
        return 1;
      }
      auto t2 = Clock::now();
      std::unique_ptr<poppler::document> doc(poppler::document::load_from_raw_data(bytes.data(), int(bytes.size())));
      size_t chars = 0;
      for (int p = 0; doc && p < doc->pages(); ++p) {
        std::unique_ptr<poppler::page> page(doc->create_page(p));
        if (page) chars += page->text().size();
      }
      auto t3 = Clock::now();
      if (rep == 0) {
        r.pages = d.pages;
        r.blocks = d.blocks.size();
        r.anchors = d.outline.size();
        if (chars == 0) std::fprintf(stderr, "note: %s has no text layer\n", f.c_str());
        continue;
      }
      t_folio.push_back(std::chrono::duration<double>(t1 - t0).count());
      t_folio_mt.push_back(std::chrono::duration<double>(t0 - tm).count());
      t_folio_fast.push_back(std::chrono::duration<double>(tm - tf).count());
      t_pdftotext.push_back(std::chrono::duration<double>(t2 - t1).count());
      t_text.push_back(std::chrono::duration<double>(t3 - t2).count());
      c_folio.push_back(folio_cpu);
      c_pdftotext.push_back(pdftotext_cpu);
    }
    r.folio_s = median(t_folio);
    r.folio_mt_s = median(t_folio_mt);
    r.folio_fast_s = median(t_folio_fast);
    r.pdftotext_s = median(t_pdftotext);
    r.poppler_text_s = median(t_text);
    r.folio_cpu_s = median(c_folio);
    r.pdftotext_cpu_s = median(c_pdftotext);
    results.push_back(r);
  }

  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  std::printf("%-44s %5s %9s %9s %9s %9s %9s %6s %6s %6s\n", "file", "pages", "folio 1t", "folio all", "no-fonts",
              "pdftotext", "page::txt", "ratio1", "ratioN", "ratioC");
  double folio = 0, folio_mt = 0, folio_fast = 0, pdftotext = 0, text = 0, folio_cpu = 0, pdftotext_cpu = 0;
  size_t pages = 0;
  for (const auto& r : results) {
    std::string name = r.path;
    if (name.size() > 44) {
      name = "...";
      name += r.path.substr(r.path.size() - 41);
    }
    std::printf("%-44s %5u %9.1f %9.1f %9.1f %9.1f %9.1f %6.2f %6.2f %6.2f\n", name.c_str(), r.pages,
                r.pages / r.folio_s, r.pages / r.folio_mt_s, r.pages / r.folio_fast_s, r.pages / r.pdftotext_s,
                r.pages / r.poppler_text_s, r.pdftotext_s / r.folio_s, r.pdftotext_s / r.folio_mt_s,
                r.pdftotext_cpu_s / r.folio_cpu_s);
    folio += r.folio_s;
    folio_mt += r.folio_mt_s;
    folio_fast += r.folio_fast_s;
    pdftotext += r.pdftotext_s;
    text += r.poppler_text_s;
    folio_cpu += r.folio_cpu_s;
    pdftotext_cpu += r.pdftotext_cpu_s;
    pages += r.pages;
  }
  std::printf("%-44s %5zu %9.1f %9.1f %9.1f %9.1f %9.1f %6.2f %6.2f %6.2f\n", "all files", pages,
              double(pages) / folio, double(pages) / folio_mt, double(pages) / folio_fast, double(pages) / pdftotext,
              double(pages) / text, pdftotext / folio, pdftotext / folio_mt, pdftotext_cpu / folio_cpu);
  std::printf("pages/s (wall); ratio = folio speed / pdftotext speed (goal >= 0.5), 1 thread and %u threads,\n"
              "ratioC = the same by CPU time, 1 thread (%.1f vs %.1f pages per CPU-second);\n"
              "median of %d runs; pdftotext runs as a process per file, as users run it\n",
              hw, double(pages) / folio_cpu, double(pages) / pdftotext_cpu, reps);

  if (!json_out.empty()) {
    using folio::json::Array;
    using folio::json::Object;
    using folio::json::Value;
    Object root;
    root.insert("benchmark", "ingest-pdf");
    root.insert("command", command);
    char date[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    root.insert("date", date);
    Object machine;
    machine.insert("cpu", cpu_name());
    machine.insert("hardware_threads", int64_t(sysconf(_SC_NPROCESSORS_ONLN)));
    machine.insert("poppler", poppler::version_string());
    // Shared machines: the load at the start and end says how noisy it was.
    machine.insert("loadavg_at_start", load_at_start);
    machine.insert("loadavg", load_average());
    root.insert("machine", std::move(machine));
    root.insert("repetitions", int64_t(reps));
    root.insert("threads_all", int64_t(hw));
    Array rows;
    for (const auto& r : results) {
      Object o;
      o.insert("file", r.path);
      o.insert("pages", int64_t(r.pages));
      o.insert("blocks", int64_t(r.blocks));
      o.insert("anchors", int64_t(r.anchors));
      o.insert("folio_seconds", r.folio_s);
      o.insert("folio_all_threads_seconds", r.folio_mt_s);
      o.insert("folio_no_font_info_seconds", r.folio_fast_s);
      o.insert("pdftotext_seconds", r.pdftotext_s);
      o.insert("poppler_page_text_seconds", r.poppler_text_s);
      o.insert("folio_pages_per_second", r.pages / r.folio_s);
      o.insert("pdftotext_pages_per_second", r.pages / r.pdftotext_s);
      o.insert("ratio_vs_pdftotext", r.pdftotext_s / r.folio_s);
      o.insert("ratio_vs_pdftotext_all_threads", r.pdftotext_s / r.folio_mt_s);
      o.insert("folio_cpu_seconds", r.folio_cpu_s);
      o.insert("pdftotext_cpu_seconds", r.pdftotext_cpu_s);
      o.insert("ratio_vs_pdftotext_cpu", r.pdftotext_cpu_s / r.folio_cpu_s);
      rows.push_back(Value(std::move(o)));
    }
    root.insert("files", std::move(rows));
    Object total;
    total.insert("pages", int64_t(pages));
    total.insert("folio_pages_per_second", double(pages) / folio);
    total.insert("folio_all_threads_pages_per_second", double(pages) / folio_mt);
    total.insert("ratio_vs_pdftotext_all_threads", pdftotext / folio_mt);
    total.insert("folio_no_font_info_pages_per_second", double(pages) / folio_fast);
    total.insert("ratio_vs_pdftotext_no_font_info", pdftotext / folio_fast);
    total.insert("pdftotext_pages_per_second", double(pages) / pdftotext);
    total.insert("poppler_page_text_pages_per_second", double(pages) / text);
    total.insert("ratio_vs_pdftotext", pdftotext / folio);
    total.insert("folio_pages_per_cpu_second", double(pages) / folio_cpu);
    total.insert("pdftotext_pages_per_cpu_second", double(pages) / pdftotext_cpu);
    total.insert("ratio_vs_pdftotext_cpu", pdftotext_cpu / folio_cpu);
    total.insert("goal_ratio", 0.5);
    root.insert("total", std::move(total));
    std::ofstream out(json_out);
    out << folio::json::serialize(Value(std::move(root)), 2) << "\n";
  }
  if (!tmp.empty()) fs::remove_all(tmp);
  return 0;
}
