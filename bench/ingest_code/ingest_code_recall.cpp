// Anchor recall against Universal Ctags on whole real trees (a quality figure,
// not a timing): for each ROOT, every function/class-like definition ctags
// reports for a file parsed as code must be an anchor with the same name on the
// same line. The tests assert >= 99% on this repository and the Python standard
// library; this tool reports any tree (e.g. npm's own JavaScript sources).
//
//   ingest_code_recall [--json OUT] [--misses N] ROOT...
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "runtime/common/json.hpp"
#include "tests/ingest/code/ctags_recall.hpp"

using namespace folio;
using namespace folio::ingest::code;

int main(int argc, char** argv) try {
  std::string json_out, command = "ingest_code_recall";
  std::vector<std::string> roots;
  size_t max_misses = 10;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    command += " " + arg;
    if (arg == "--json" && i + 1 < argc) {
      json_out = argv[++i];
      command += std::string(" ") + json_out;
    } else if (arg == "--misses" && i + 1 < argc) {
      max_misses = std::stoul(argv[++i]);
      command += std::string(" ") + argv[i];
    } else {
      roots.push_back(arg);
    }
  }
  if (roots.empty()) {
    std::cerr << "usage: ingest_code_recall [--json OUT] [--misses N] ROOT...\n";
    return 2;
  }
  std::string version = recall::ctags_version();
  if (version.empty()) {
    std::cerr << "ingest_code_recall: Universal Ctags not found (scripts/setup-debian installs it)\n";
    return 1;
  }
  json::Array trees;
  for (const auto& root : roots) {
    recall::Result r = recall::measure(root, max_misses);
    std::cout << r.describe(root);
    json::Object tree;
    tree.insert("root", root);
    tree.insert("files", r.files);
    tree.insert("ctags_definitions", r.tags);
    tree.insert("matched", r.matched);
    tree.insert("recall", r.value());
    json::Object languages;
    for (const auto& [language, counts] : r.by_language) {
      json::Object l;
      l.insert("matched", counts.first);
      l.insert("total", counts.second);
      languages.insert(language, json::Value(std::move(l)));
    }
    tree.insert("by_language", json::Value(std::move(languages)));
    json::Array misses;
    for (const auto& m : r.misses) misses.push_back(json::Value(m));
    tree.insert("first_misses", json::Value(std::move(misses)));
    trees.push_back(json::Value(std::move(tree)));
  }
  if (!json_out.empty()) {
    json::Object doc;
    doc.insert("benchmark", "ingest_code_recall");
    doc.insert("command", command);
    doc.insert("ctags", version);
    doc.insert("measure",
               "definitions of kinds function/class/struct/union/enum/namespace (C, C++, CUDA), class/function/member "
               "(Python), function/class/method/generator (JS), + interface/enum/namespace (TS), func/interface (Go), "
               "function/struct/enum/interface/implementation/method/module (Rust), class/interface/enum/method (Java) "
               "that ctags reports in files parsed as code; matched = an anchor with the same name whose name line "
               "or first line is ctags' line");
    doc.insert("trees", json::Value(std::move(trees)));
    std::ofstream(json_out) << json::serialize(json::Value(std::move(doc)), 2) << "\n";
    std::cout << "wrote " << json_out << "\n";
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "ingest_code_recall: " << e.what() << "\n";
  return 1;
}
