// Options shared by `folio generate` and `folio chat`: the model file, threads,
// context and sampling. Parsed by parse_model_option, which returns false for
// an option that is not one of these.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/backend/backend.hpp"
#include "runtime/gguf/gguf.hpp"
#include "runtime/model/model.hpp"
#include "runtime/sampling/sampler.hpp"
#include "runtime/tokenizer/tokenizer.hpp"
#include "tools/folio/arg_reader.hpp"

namespace folio::cli {

struct ModelOptions {
  std::string model_path;
  int threads = 0;              // 0: all cores
  int64_t context = 0;          // 0: min(model context, 8192)
  int64_t max_new_tokens = 256;
  sampling::SamplerParams sampling;
  std::vector<std::string> stop;
};

inline constexpr const char* kModelOptionsHelp =
    "  --model FILE         GGUF model (qwen3moe, qwen3 or llama)\n"
    "  -n, --max-tokens N   tokens to generate (default 256)\n"
    "  --temp X             temperature (default 0.8; 0 = greedy)\n"
    "  --top-k N            keep the N most likely tokens (default 40; 0 = off)\n"
    "  --top-p X            nucleus sampling mass (default 0.95; 1 = off)\n"
    "  --min-p X            drop tokens below X times the best one (default 0.05; 0 = off)\n"
    "  --repeat-penalty X   penalise tokens of the last 64 (default 1.0 = off)\n"
    "  --seed N             sampling seed (default 0)\n"
    "  --stop S             stop when the output contains S (repeatable)\n"
    "  --threads N          CPU threads (default: all cores)\n"
    "  --ctx N              context size in tokens (default: the model's, at most 8192)\n";

bool parse_model_option(ArgReader& r, std::string_view option, ModelOptions& o);

// Everything needed to run: the mapped file, backend, model and tokenizer.
struct LoadedModel {
  std::shared_ptr<const gguf::File> file;
  std::unique_ptr<backend::Backend> backend;
  std::unique_ptr<model::Model> model;
  std::unique_ptr<tok::Tokenizer> tokenizer;
  int threads = 0;
};

LoadedModel load_model(const ModelOptions& o, std::string_view command);
model::SessionOptions session_options(const ModelOptions& o, const model::Model& m);

}  // namespace folio::cli
