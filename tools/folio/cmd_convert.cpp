// `folio convert HF_DIR -o OUT.gguf [--outtype T]`: a Hugging Face model
// directory (config.json, *.safetensors, tokenizer.json) to a GGUF file with
// llama.cpp's tensor names and metadata.
#include <cstdio>
#include <string>
#include <string_view>

#include "runtime/common/error.hpp"
#include "runtime/convert/convert.hpp"
#include "tools/folio/commands.hpp"

namespace folio::cli {

namespace {

constexpr const char* kUsage =
    "usage: folio convert HF_DIR -o OUT.gguf [--outtype auto|f32|f16|bf16|q8_0] [--verbose]\n"
    "\n"
    "Converts a Hugging Face model directory (config.json, *.safetensors with F32/F16/BF16\n"
    "weights, tokenizer.json and optionally tokenizer_config.json) to GGUF, with the\n"
    "tensor names and metadata keys llama.cpp uses. Architectures: Qwen3MoeForCausalLM,\n"
    "Qwen3ForCausalLM, LlamaForCausalLM.\n"
    "\n"
    "  -o, --output FILE   the GGUF file to write (written atomically)\n"
    "  --outtype T         weight type: auto (default: bf16 for a bf16 checkpoint, else f16),\n"
    "                      f32, f16, bf16 or q8_0; norms and the MoE router stay f32\n"
    "  -v, --verbose       list each tensor as it is written\n"
    "  -h, --help          this help\n";

}  // namespace

int run_convert(Args args) {
  convert::Options options;
  bool verbose = false;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string_view a = args[i];
    auto value = [&](const char* what) -> const char* {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "folio convert: %.*s needs %s\n", int(a.size()), a.data(), what);
        return nullptr;
      }
      return args[++i];
    };
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "-o" || a == "--output") {
      const char* v = value("a file name");
      if (!v) return 2;
      options.output = v;
    } else if (a == "--outtype") {
      const char* v = value("a type (auto, f32, f16, bf16, q8_0)");
      if (!v) return 2;
      const auto t = convert::parse_out_type(v);
      if (!t) {
        std::fprintf(stderr, "folio convert: --outtype '%s' is not one of auto, f32, f16, bf16, q8_0\n", v);
        return 2;
      }
      options.out_type = *t;
    } else if (a == "-v" || a == "--verbose") {
      verbose = true;
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "folio convert: unknown option '%.*s'\n%s", int(a.size()), a.data(), kUsage);
      return 2;
    } else if (options.hf_dir.empty()) {
      options.hf_dir = std::string(a);
    } else {
      std::fprintf(stderr, "folio convert: one model directory at a time\n%s", kUsage);
      return 2;
    }
  }
  if (options.hf_dir.empty() || options.output.empty()) {
    std::fprintf(stderr, "folio convert: give a Hugging Face model directory and -o OUT.gguf\n%s", kUsage);
    return 2;
  }
  if (verbose) options.log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };

  const convert::Summary s = convert::convert_hf_to_gguf(options);
  std::printf("%s: %s (%s), %zu tensors, %llu parameters, weights %s, vocab %zu, %llu bytes\n",
              options.output.string().c_str(), s.architecture.c_str(), s.hf_architecture.c_str(), s.tensors,
              (unsigned long long)s.parameters, gguf::tensor_type_name(uint32_t(s.weight_type)).c_str(), s.vocab_size,
              (unsigned long long)s.file_bytes);
  return 0;
}

}  // namespace folio::cli
