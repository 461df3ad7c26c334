// The generation loop on a make-tiny model: streaming, length limit, stop
// strings cut at the right place, reproducibility with a seed.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "runtime/backend/cpu/cpu_backend.hpp"
#include "runtime/gguf/gguf.hpp"
#include "runtime/model/generate.hpp"
#include "runtime/model/tiny_model.hpp"
#include "runtime/tokenizer/tokenizer.hpp"

using namespace folio;

namespace {

struct Fixture {
  std::shared_ptr<std::vector<std::byte>> bytes;
  std::shared_ptr<const gguf::File> file;
  std::unique_ptr<backend::Backend> be;
  std::unique_ptr<model::Model> m;
  std::unique_ptr<tok::Tokenizer> tok;

  Fixture() {
    model::TinyConfig c = model::tiny_preset("qwen3moe", "tiny");
    c.seed = 9;
    bytes = std::make_shared<std::vector<std::byte>>(model::tiny_model_bytes(c));
    file = std::make_shared<const gguf::File>(gguf::File::parse(*bytes, "tiny.gguf"));
    be = cpu::make_cpu_backend({2});
    m = std::make_unique<model::Model>(model::Model::load(file, *be));
    tok = std::make_unique<tok::Tokenizer>(tok::vocab_from_gguf(*file));
  }

  model::GenerateResult run(const sampling::SamplerParams& sp, model::GenerateOptions go, std::string* streamed = nullptr) {
    model::Session s(*m, {256, 64});
    sampling::Sampler sampler(sp);
    const auto prompt = tok->encode("The agreement between the parties shall remain in force");
    go.stop_at_eos = false;  // random weights: keep going for the length under test
    return model::generate(s, *tok, sampler, prompt, go, [&](std::string_view piece) {
      if (streamed) *streamed += piece;
      return true;
    });
  }
};

}  // namespace

TEST_CASE("generate streams, honours the length limit and reproduces with a seed") {
  Fixture f;
  sampling::SamplerParams sp;
  sp.seed = 17;
  model::GenerateOptions go;
  go.max_new_tokens = 40;
  std::string streamed;
  const auto a = f.run(sp, go, &streamed);
  CHECK(a.tokens.size() == 40);
  CHECK(a.reason == model::StopReason::length);
  CHECK(a.decode_steps == 39);  // the last token is sampled, never run
  CHECK(streamed == a.text);
  const auto b = f.run(sp, go);
  CHECK(a.tokens == b.tokens);
  sp.seed = 18;
  CHECK(f.run(sp, go).tokens != a.tokens);
}

TEST_CASE("a stop string ends generation and is not emitted, even across tokens") {
  Fixture f;
  sampling::SamplerParams sp;
  sp.temperature = 0.0f;  // greedy: the same text every run
  model::GenerateOptions go;
  go.max_new_tokens = 60;
  const auto full = f.run(sp, go);
  REQUIRE(full.text.size() > 20);
  // A stop string spanning the middle of the text.
  const std::string stop = full.text.substr(full.text.size() / 2, 5);
  go.stop = {stop};
  std::string streamed;
  const auto cut = f.run(sp, go, &streamed);
  CHECK(cut.reason == model::StopReason::stop_string);
  CHECK(cut.text == full.text.substr(0, full.text.find(stop)));
  CHECK(streamed == cut.text);
  CHECK(cut.tokens.size() < full.tokens.size());
}
