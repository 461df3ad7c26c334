#include "tools/folio/model_options.hpp"

#include <algorithm>
#include <filesystem>

#include "runtime/backend/cpu/cpu_backend.hpp"
#include "runtime/common/error.hpp"

namespace folio::cli {

bool parse_model_option(ArgReader& r, std::string_view opt, ModelOptions& o) {
  if (opt == "--model" || opt == "-m") o.model_path = r.value(opt);
  else if (opt == "-n" || opt == "--max-tokens") o.max_new_tokens = r.integer(opt, 0, int64_t(1) << 30);
  else if (opt == "--temp") o.sampling.temperature = float(r.real(opt, 0.0, 100.0));
  else if (opt == "--top-k") o.sampling.top_k = int(r.integer(opt, 0, 1 << 30));
  else if (opt == "--top-p") o.sampling.top_p = float(r.real(opt, 0.0, 1.0));
  else if (opt == "--min-p") o.sampling.min_p = float(r.real(opt, 0.0, 1.0));
  else if (opt == "--repeat-penalty") o.sampling.repeat_penalty = float(r.real(opt, 0.01, 100.0));
  else if (opt == "--seed") o.sampling.seed = uint64_t(r.integer(opt, 0, INT64_MAX));
  else if (opt == "--stop") o.stop.emplace_back(r.value(opt));
  else if (opt == "--threads" || opt == "-t") o.threads = int(r.integer(opt, 1, 1024));
  else if (opt == "--ctx" || opt == "-c") o.context = r.integer(opt, 1, int64_t(1) << 31);
  else return false;
  return true;
}

LoadedModel load_model(const ModelOptions& o, std::string_view command) {
  if (o.model_path.empty())
    fail(Errc::invalid_argument, "no model: pass --model FILE.gguf (`folio make-tiny -o tiny.gguf` makes a test model; "
                                 "see `folio " + std::string(command) + " --help`)");
  if (!std::filesystem::exists(o.model_path))
    fail(Errc::io, o.model_path + ": no such file (check the path given to --model)");
  LoadedModel lm;
  lm.file = std::make_shared<const gguf::File>(gguf::File::open(o.model_path));
  cpu::CpuOptions co;
  co.n_threads = o.threads;
  lm.backend = cpu::make_cpu_backend(co);
  lm.threads = cpu::cpu_backend_threads(*lm.backend);
  lm.model = std::make_unique<model::Model>(model::Model::load(lm.file, *lm.backend));
  lm.tokenizer = std::make_unique<tok::Tokenizer>(tok::vocab_from_gguf(*lm.file));
  if (int64_t(lm.tokenizer->vocab_size()) > lm.model->hparams().n_vocab)
    fail(Errc::format, o.model_path + ": the tokenizer has " + std::to_string(lm.tokenizer->vocab_size()) +
                           " tokens but token_embd.weight only " + std::to_string(lm.model->hparams().n_vocab) + " rows");
  return lm;
}

model::SessionOptions session_options(const ModelOptions& o, const model::Model& m) {
  model::SessionOptions so;
  const int64_t model_ctx = m.hparams().context_length > 0 ? m.hparams().context_length : 4096;
  so.max_tokens = o.context > 0 ? o.context : std::min<int64_t>(model_ctx, 8192);
  so.prefill_chunk = 512;
  return so;
}

}  // namespace folio::cli
