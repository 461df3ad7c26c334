// `folio make-tiny`: writes a deterministic random-weight GGUF model.
#include <cstdio>
#include <string>

#include "runtime/gguf/gguf.hpp"
#include "runtime/model/hparams.hpp"
#include "runtime/model/tiny_model.hpp"
#include "tools/folio/arg_reader.hpp"

namespace folio::cli {

namespace {

constexpr const char* kHelp =
    "usage: folio make-tiny [--arch qwen3moe|qwen3|llama] [--size tiny|small|0.5b] [options] -o OUT.gguf\n"
    "\n"
    "Writes a model with deterministic random weights (same options and seed => byte-identical file)\n"
    "and a tokenizer: by default a small synthetic byte-level BPE vocabulary with the ChatML tokens.\n"
    "\n"
    "  --arch A           architecture (default qwen3moe)\n"
    "  --size S           preset: tiny (default), small, 0.5b (bf16 weights)\n"
    "  --seed S           random seed (default 1)\n"
    "  --type T           weight type of matrices: f32, f16, bf16, q8_0 (norms stay f32)\n"
    "  --layers N --hidden N --heads N --kv-heads N --head-dim N\n"
    "  --ff N             dense feed-forward size (qwen3, llama)\n"
    "  --experts N --experts-used N --expert-ff N   (qwen3moe)\n"
    "  --no-norm-topk     do not renormalise the top-k router weights\n"
    "  --tied             tie the output matrix to the token embeddings\n"
    "  --context N        context length written to the file (default 4096)\n"
    "  --rope-theta X     RoPE base (default 1e6)\n"
    "  --merges N         merges in the synthetic vocabulary (default 400)\n"
    "  --tokenizer FILE   embed a Hugging Face tokenizer.json instead of the synthetic vocabulary\n"
    "  -o, --output FILE  where to write the GGUF\n";

backend::WeightType parse_type(std::string_view s) {
  if (s == "f32") return backend::WeightType::f32;
  if (s == "f16") return backend::WeightType::f16;
  if (s == "bf16") return backend::WeightType::bf16;
  if (s == "q8_0") return backend::WeightType::q8_0;
  fail(Errc::invalid_argument, "--type must be f32, f16, bf16 or q8_0, got '" + std::string(s) + "'");
}

}  // namespace

int run_make_tiny(Args args) {
  // First pass: arch and size pick the preset the other options modify.
  std::string arch = "qwen3moe", size = "tiny";
  for (size_t i = 1; i + 1 < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "--arch") arch = args[i + 1];
    if (a == "--size") size = args[i + 1];
  }
  for (size_t i = 1; i < args.size(); ++i)
    if (std::string_view(args[i]) == "--help" || std::string_view(args[i]) == "-h") {
      std::fputs(kHelp, stdout);
      return 0;
    }
  model::TinyConfig c = model::tiny_preset(arch, size);
  std::string out;
  ArgReader r(args, "make-tiny");
  constexpr int64_t kBig = 1 << 20;
  while (!r.done()) {
    const std::string_view o = r.next();
    if (o == "--arch" || o == "--size") r.value(o);
    else if (o == "--seed") c.seed = uint64_t(r.integer(o, 0, INT64_MAX));
    else if (o == "--type") c.type = parse_type(r.value(o));
    else if (o == "--layers") c.n_layers = int(r.integer(o, 1, 1024));
    else if (o == "--hidden") c.d_model = int(r.integer(o, 1, 65536));
    else if (o == "--heads") c.n_heads = int(r.integer(o, 1, 1024));
    else if (o == "--kv-heads") c.n_kv_heads = int(r.integer(o, 1, 1024));
    else if (o == "--head-dim") c.head_dim = int(r.integer(o, 2, 1024));
    else if (o == "--ff") c.ff = int(r.integer(o, 1, kBig));
    else if (o == "--experts") c.n_expert = int(r.integer(o, 1, 4096));
    else if (o == "--experts-used") c.n_expert_used = int(r.integer(o, 1, 4096));
    else if (o == "--expert-ff") c.expert_ff = int(r.integer(o, 1, kBig));
    else if (o == "--no-norm-topk") c.norm_topk = false;
    else if (o == "--tied") c.tied_output = true;
    else if (o == "--context") c.context_length = r.integer(o, 1, int64_t(1) << 31);
    else if (o == "--rope-theta") c.rope_theta = float(r.real(o, 1.0, 1e12));
    else if (o == "--merges") c.n_merges = int(r.integer(o, 0, 100000));
    else if (o == "--tokenizer") c.tokenizer_json = std::string(r.value(o));
    else if (o == "-o" || o == "--output") out = r.value(o);
    else r.unknown(o);
  }
  if (out.empty()) fail(Errc::invalid_argument, "no output file: pass -o OUT.gguf");
  model::write_tiny_model(c, out);
  // Report what was written, read back from the file itself.
  const gguf::File f = gguf::File::open(out);
  const model::HParams hp = model::read_hparams(f);
  const bool tied = f.find_tensor("output.weight") == nullptr;
  std::fprintf(stderr, "wrote %s: %s, %d layers, hidden %d, %d/%d heads x %d", out.c_str(), c.arch.c_str(),
               hp.n_layers, hp.d_model, hp.n_heads, hp.n_kv_heads, hp.head_dim);
  if (hp.is_moe())
    std::fprintf(stderr, ", %d experts (top %d) x ff %d", hp.n_expert, hp.n_expert_used, hp.expert_ff);
  else
    std::fprintf(stderr, ", ff %d", hp.ff);
  std::fprintf(stderr, ", vocab %lld, %s weights, %.1fM params (%.1fM active), seed %llu\n",
               static_cast<long long>(hp.n_vocab), backend::weight_type_name(c.type), double(hp.n_params(tied)) / 1e6,
               double(hp.n_active_params(tied)) / 1e6, static_cast<unsigned long long>(c.seed));
  return 0;
}

}  // namespace folio::cli
