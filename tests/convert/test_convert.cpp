// Converter tests: tiny Hugging Face directories are written with random
// weights, converted, and the GGUF is checked against the source tensors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <map>

#include "runtime/common/error.hpp"
#include "runtime/common/half.hpp"
#include "runtime/convert/convert.hpp"
#include "runtime/convert/hf_config.hpp"
#include "runtime/convert/safetensors.hpp"
#include "runtime/gguf/gguf.hpp"
#include "tests/convert/tiny_hf.hpp"

namespace gguf = folio::gguf;
namespace convert = folio::convert;
namespace st = folio::safetensors;
namespace json = folio::json;
using folio::test::TempDir;
using folio::test::TinyHf;

namespace {

std::vector<float> read_all(const gguf::TensorInfo& t) {
  std::vector<float> v(t.n_elements);
  gguf::dequantize_row(t, 0, v);
  return v;
}

convert::Summary run(const std::filesystem::path& dir, const std::filesystem::path& out,
                     convert::OutType type = convert::OutType::f32) {
  convert::Options o;
  o.hf_dir = dir;
  o.output = out;
  o.out_type = type;
  return convert::convert_hf_to_gguf(o);
}

std::string convert_error(const std::filesystem::path& dir, folio::Errc expected = folio::Errc::format) {
  try {
    (void)run(dir, dir / "out.gguf");
  } catch (const folio::Error& e) {
    CHECK(e.code() == expected);
    CHECK_FALSE(std::filesystem::exists(dir / "out.gguf"));
    return e.what();
  }
  FAIL("expected the conversion to fail");
  return "";
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("convert: qwen3moe to f32 keeps every weight exactly, experts stacked") {
  TempDir tmp("convert_moe");
  TinyHf hf;
  hf.make_weights(3);
  hf.write(tmp.path, /*shards=*/2);
  const auto out = tmp.path / "m.gguf";
  const convert::Summary s = run(tmp.path, out);
  CHECK(s.architecture == "qwen3moe");
  CHECK(s.weight_type == gguf::TensorType::f32);
  CHECK(s.vocab_size == 10);

  const gguf::File f = gguf::File::open(out);
  CHECK(f.get_string("general.architecture") == "qwen3moe");
  CHECK(f.get_u64("general.file_type") == 0);
  CHECK(f.get_u64("qwen3moe.block_count") == 2);
  CHECK(f.get_u64("qwen3moe.context_length") == 1024);
  CHECK(f.get_u64("qwen3moe.embedding_length") == 64);
  CHECK(f.get_u64("qwen3moe.feed_forward_length") == 96);
  CHECK(f.get_u64("qwen3moe.attention.head_count") == 4);
  CHECK(f.get_u64("qwen3moe.attention.head_count_kv") == 2);
  CHECK(f.get_u64("qwen3moe.attention.key_length") == 16);
  CHECK(f.get_u64("qwen3moe.attention.value_length") == 16);
  CHECK(f.get_f64("qwen3moe.rope.freq_base") == 1e6);
  CHECK(f.get_f64("qwen3moe.attention.layer_norm_rms_epsilon") == doctest::Approx(1e-6));
  CHECK(f.get_u64("qwen3moe.expert_count") == 4);
  CHECK(f.get_u64("qwen3moe.expert_used_count") == 2);
  CHECK(f.get_u64("qwen3moe.expert_feed_forward_length") == 32);
  CHECK(f.get_bool_or("qwen3moe.expert_weights_norm", true) == false);
  CHECK(f.get_string("tokenizer.ggml.model") == "gpt2");
  CHECK(f.get_string("tokenizer.ggml.pre") == "qwen2");
  const auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  REQUIRE(tokens.size() == 10);
  CHECK(tokens[2] == "ab");
  CHECK(tokens[8] == "<|im_start|>");
  CHECK(f.get_i64_array("tokenizer.ggml.token_type")[8] == 3);  // control
  CHECK(f.get_u64("tokenizer.ggml.eos_token_id") == 8);          // from config.json
  CHECK(f.get_string_array("tokenizer.ggml.merges").size() == 3);

  // 1 embd + 2 x (attn_norm q k v o q_norm k_norm ffn_norm gate_inp 3 exps) + norm + output
  CHECK(f.tensors().size() == 1 + 2 * 12 + 2);
  CHECK(f.find_tensor("output.weight") != nullptr);

  auto expect_same = [&](const std::string& gguf_name, const std::string& hf_name) {
    const gguf::TensorInfo& t = f.tensor(gguf_name);
    const auto& [shape, values] = hf.weights.at(hf_name);
    CHECK_MESSAGE(t.shape == std::vector<uint64_t>(shape.rbegin(), shape.rend()), gguf_name);
    CHECK_MESSAGE(read_all(t) == values, gguf_name);
  };
  expect_same("token_embd.weight", "model.embed_tokens.weight");
  expect_same("output.weight", "lm_head.weight");
  expect_same("output_norm.weight", "model.norm.weight");
  expect_same("blk.1.attn_q.weight", "model.layers.1.self_attn.q_proj.weight");  // no permutation for qwen3
  expect_same("blk.1.attn_k.weight", "model.layers.1.self_attn.k_proj.weight");
  expect_same("blk.0.attn_output.weight", "model.layers.0.self_attn.o_proj.weight");
  expect_same("blk.0.attn_k_norm.weight", "model.layers.0.self_attn.k_norm.weight");
  expect_same("blk.0.ffn_norm.weight", "model.layers.0.post_attention_layernorm.weight");
  expect_same("blk.1.ffn_gate_inp.weight", "model.layers.1.mlp.gate.weight");

  for (const char* proj : {"gate", "up", "down"}) {
    const gguf::TensorInfo& t = f.tensor(std::string("blk.1.ffn_") + proj + "_exps.weight");
    const bool down = std::string_view(proj) == "down";
    CHECK(t.shape == (down ? std::vector<uint64_t>{32, 64, 4} : std::vector<uint64_t>{64, 32, 4}));
    const auto all = read_all(t);
    const size_t per_expert = 32 * 64;
    for (int e = 0; e < 4; ++e) {
      const auto& src = hf.weights.at("model.layers.1.mlp.experts." + std::to_string(e) + "." + proj + "_proj.weight").second;
      CHECK(std::equal(src.begin(), src.end(), all.begin() + std::ptrdiff_t(e * per_expert)));
    }
  }
}

TEST_CASE("convert: qwen3 dense, tied embeddings, f16 and q8_0") {
  TempDir tmp("convert_dense");
  TinyHf hf;
  hf.architecture = "Qwen3ForCausalLM";
  hf.tied = true;
  hf.make_weights(5);
  hf.write(tmp.path);

  const convert::Summary s16 = run(tmp.path, tmp.path / "f16.gguf", convert::OutType::f16);
  CHECK(s16.architecture == "qwen3");
  const gguf::File f = gguf::File::open(tmp.path / "f16.gguf");
  CHECK(f.find_tensor("output.weight") == nullptr);
  CHECK(f.find("qwen3.expert_count") == nullptr);
  CHECK(f.get_u64("general.file_type") == 1);
  CHECK(f.tensors().size() == 1 + 2 * 11 + 1);
  const gguf::TensorInfo& up = f.tensor("blk.0.ffn_up.weight");
  CHECK(up.type == gguf::TensorType::f16);
  CHECK(up.shape == std::vector<uint64_t>{64, 96});
  const auto& src = hf.weights.at("model.layers.0.mlp.up_proj.weight").second;
  const auto got = read_all(up);
  for (size_t i = 0; i < src.size(); ++i) CHECK(got[i] == folio::f16_to_f32(folio::f32_to_f16(src[i])));
  // Norms stay f32 whatever the output type.
  CHECK(f.tensor("blk.0.attn_norm.weight").type == gguf::TensorType::f32);
  CHECK(read_all(f.tensor("blk.0.attn_norm.weight")) == hf.weights.at("model.layers.0.input_layernorm.weight").second);

  run(tmp.path, tmp.path / "q8.gguf", convert::OutType::q8_0);
  const gguf::File q = gguf::File::open(tmp.path / "q8.gguf");
  CHECK(q.get_u64("general.file_type") == 7);
  const gguf::TensorInfo& qd = q.tensor("blk.1.ffn_down.weight");
  CHECK(qd.type == gguf::TensorType::q8_0);
  const auto& dsrc = hf.weights.at("model.layers.1.mlp.down_proj.weight").second;
  const auto dq = read_all(qd);
  float max_err = 0, max_abs = 0;
  for (size_t i = 0; i < dsrc.size(); ++i) {
    max_err = std::max(max_err, std::fabs(dq[i] - dsrc[i]));
    max_abs = std::max(max_abs, std::fabs(dsrc[i]));
  }
  CHECK(max_err > 0);
  CHECK(max_err <= max_abs / 127 * 0.51f + 1e-3f);
  CHECK(q.tensor("blk.0.attn_q_norm.weight").type == gguf::TensorType::f32);
}

TEST_CASE("convert: llama permutes q/k rows per head and writes rope_freqs for llama3 scaling") {
  TempDir tmp("convert_llama");
  TinyHf hf;
  hf.architecture = "LlamaForCausalLM";
  json::Object scaling;
  scaling.insert("rope_type", "llama3");
  scaling.insert("factor", 8.0);
  scaling.insert("low_freq_factor", 1.0);
  scaling.insert("high_freq_factor", 4.0);
  scaling.insert("original_max_position_embeddings", 64);
  hf.extra_config.insert("rope_scaling", std::move(scaling));
  hf.make_weights(7);
  hf.write(tmp.path);
  const convert::Summary s = run(tmp.path, tmp.path / "l.gguf");
  CHECK(s.architecture == "llama");
  const gguf::File f = gguf::File::open(tmp.path / "l.gguf");
  CHECK(f.get_u64("llama.vocab_size") == 10);
  CHECK(f.get_u64("llama.rope.dimension_count") == 16);
  CHECK(f.find_tensor("blk.0.attn_q_norm.weight") == nullptr);

  const int hd = 16;
  for (const auto& [gname, hname, heads] :
       {std::tuple{"blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight", 4},
        std::tuple{"blk.0.attn_k.weight", "model.layers.0.self_attn.k_proj.weight", 2}}) {
    const auto got = read_all(f.tensor(gname));
    const auto& src = hf.weights.at(hname).second;
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < hd / 2; ++j) {
          const size_t new_row = size_t(h * hd + 2 * j + i), old_row = size_t(h * hd + i * hd / 2 + j);
          CHECK(std::equal(src.begin() + std::ptrdiff_t(old_row * 64), src.begin() + std::ptrdiff_t(old_row * 64 + 64),
                           got.begin() + std::ptrdiff_t(new_row * 64)));
        }
  }
  // v is not permuted.
  CHECK(read_all(f.tensor("blk.0.attn_v.weight")) == hf.weights.at("model.layers.0.self_attn.v_proj.weight").second);

  const auto freqs = read_all(f.tensor("rope_freqs.weight"));
  REQUIRE(freqs.size() == 8);
  CHECK(freqs[0] == 1.0f);           // short wavelengths are not scaled
  CHECK(freqs[7] == 8.0f);           // wavelengths beyond the original context: scaled by factor
  for (float x : freqs) CHECK((x >= 1.0f && x <= 8.0f));
}

TEST_CASE("convert: bf16 checkpoints stay bf16 under auto, bit for bit") {
  TempDir tmp("convert_bf16");
  TinyHf hf;
  hf.architecture = "Qwen3ForCausalLM";
  hf.dtype = st::Dtype::bf16;
  hf.make_weights(9);
  hf.write(tmp.path);
  const convert::Summary s = run(tmp.path, tmp.path / "b.gguf", convert::OutType::automatic);
  CHECK(s.weight_type == gguf::TensorType::bf16);
  const gguf::File f = gguf::File::open(tmp.path / "b.gguf");
  CHECK(f.get_u64("general.file_type") == 32);
  CHECK(read_all(f.tensor("blk.1.attn_output.weight")) == hf.weights.at("model.layers.1.self_attn.o_proj.weight").second);
}

TEST_CASE("convert: missing inputs and mismatches are clear errors") {
  TinyHf hf;
  hf.make_weights(11);

  SUBCASE("missing config.json") {
    TempDir tmp("convert_err");
    hf.write(tmp.path);
    std::filesystem::remove(tmp.path / "config.json");
    CHECK(contains(convert_error(tmp.path, folio::Errc::io), "config.json"));
  }
  SUBCASE("missing tokenizer.json") {
    TempDir tmp("convert_err");
    hf.write(tmp.path);
    std::filesystem::remove(tmp.path / "tokenizer.json");
    CHECK(contains(convert_error(tmp.path, folio::Errc::io), "tokenizer.json"));
  }
  SUBCASE("no safetensors") {
    TempDir tmp("convert_err");
    hf.write(tmp.path);
    for (const auto& e : std::filesystem::directory_iterator(tmp.path))
      if (e.path().extension() == ".safetensors") std::filesystem::remove(e.path());
    CHECK(contains(convert_error(tmp.path), "no *.safetensors"));
  }
  SUBCASE("unsupported architecture") {
    TempDir tmp("convert_err");
    TinyHf other = hf;
    other.architecture = "MistralForCausalLM";
    other.write(tmp.path);
    const std::string e = convert_error(tmp.path, folio::Errc::unsupported);
    CHECK(contains(e, "MistralForCausalLM"));
    CHECK(contains(e, "Qwen3MoeForCausalLM"));
  }
  SUBCASE("missing expert tensor") {
    TempDir tmp("convert_err");
    TinyHf broken = hf;
    broken.weights.erase("model.layers.1.mlp.experts.2.up_proj.weight");
    broken.write(tmp.path);
    CHECK(contains(convert_error(tmp.path), "missing tensor 'model.layers.1.mlp.experts.2.up_proj.weight'"));
  }
  SUBCASE("unexpected tensor") {
    TempDir tmp("convert_err");
    TinyHf extra = hf;
    extra.weights["model.layers.0.mlp.shared_expert.weight"] = {{4}, {1, 2, 3, 4}};
    extra.write(tmp.path);
    CHECK(contains(convert_error(tmp.path), "unexpected tensor 'model.layers.0.mlp.shared_expert.weight'"));
  }
  SUBCASE("shape disagrees with config.json") {
    TempDir tmp("convert_err");
    TinyHf bad = hf;
    bad.weights["model.layers.0.self_attn.k_proj.weight"] = {{16, 64}, std::vector<float>(16 * 64, 0.5f)};
    bad.write(tmp.path);
    const std::string e = convert_error(tmp.path);
    CHECK(contains(e, "'model.layers.0.self_attn.k_proj.weight' has shape [16, 64], config.json implies [32, 64]"));
  }
  SUBCASE("bad config field") {
    TempDir tmp("convert_err");
    TinyHf bad = hf;
    bad.extra_config.insert("num_hidden_layers", "two");
    bad.write(tmp.path);
    CHECK(contains(convert_error(tmp.path), "'num_hidden_layers': expected an integer, found string"));
  }
  SUBCASE("dense layers in a MoE model are refused") {
    TempDir tmp("convert_err");
    TinyHf bad = hf;
    bad.extra_config.insert("mlp_only_layers", json::Array{json::Value(0)});
    bad.write(tmp.path);
    CHECK(contains(convert_error(tmp.path, folio::Errc::unsupported), "mlp_only_layers"));
  }
  SUBCASE("tokenizer larger than vocab_size") {
    TempDir tmp("convert_err");
    TinyHf bad = hf;
    bad.vocab = 8;
    bad.make_weights(11);
    bad.write(tmp.path);
    CHECK(contains(convert_error(tmp.path), "more than config.json's vocab_size 8"));
  }
}

TEST_CASE("convert: config.json variants") {
  const std::string base = R"({"architectures": ["Qwen3ForCausalLM"], "vocab_size": 10, "hidden_size": 64,
    "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "max_position_embeddings": 4096)";
  SUBCASE("defaults: head_dim from hidden/heads, theta 10000, untied") {
    const convert::HfConfig c = convert::parse_hf_config(base + "}", "c.json");
    CHECK(c.head_dim == 16);
    CHECK(c.rope_theta == 10000.0);
    CHECK_FALSE(c.tie_embeddings);
    CHECK_FALSE(c.rope_scaling.has_value());
  }
  SUBCASE("transformers 5 rope_parameters") {
    const convert::HfConfig c = convert::parse_hf_config(
        base + R"(, "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"}})", "c.json");
    CHECK(c.rope_theta == 1e6);
    CHECK_FALSE(c.rope_scaling.has_value());
  }
  SUBCASE("yarn scaling") {
    const convert::HfConfig c = convert::parse_hf_config(
        base + R"(, "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}})",
        "c.json");
    REQUIRE(c.rope_scaling.has_value());
    CHECK(c.rope_scaling->type == "yarn");
    CHECK(c.rope_scaling->factor == 4.0);
    CHECK(c.rope_scaling->original_context == 32768);
  }
  SUBCASE("bad values name the file and field") {
    CHECK_THROWS_WITH(convert::parse_hf_config(base + R"(, "rms_norm_eps": "small"})", "c.json"),
                      doctest::Contains("c.json: 'rms_norm_eps': expected a number"));
    CHECK_THROWS_WITH(convert::parse_hf_config(base + R"(, "rope_scaling": {"rope_type": "dynamic", "factor": 2}})", "c.json"),
                      doctest::Contains("'dynamic' is not supported"));
    CHECK_THROWS_WITH(convert::parse_hf_config(R"({"architectures": ["Qwen3ForCausalLM"]})", "c.json"),
                      doctest::Contains("c.json: missing 'vocab_size'"));
  }
}

TEST_CASE("convert: out type names") {
  CHECK(convert::parse_out_type("Q8_0") == convert::OutType::q8_0);
  CHECK(convert::parse_out_type("bf16") == convert::OutType::bf16);
  CHECK(convert::parse_out_type("auto") == convert::OutType::automatic);
  CHECK_FALSE(convert::parse_out_type("q4_K").has_value());
}

// ---- safetensors as hostile input ------------------------------------------

namespace {

// Writes `header` (raw JSON) + `data_bytes` zero bytes with the given header length.
std::filesystem::path raw_safetensors(const TempDir& tmp, const std::string& header, size_t data_bytes,
                                      std::optional<uint64_t> len_override = std::nullopt) {
  const auto p = tmp.path / "x.safetensors";
  std::ofstream f(p, std::ios::binary);
  const uint64_t len = len_override.value_or(header.size());
  f.write(reinterpret_cast<const char*>(&len), 8);
  f << header;
  f << std::string(data_bytes, '\0');
  return p;
}

std::string st_error(const std::filesystem::path& p, folio::Errc expected = folio::Errc::format) {
  try {
    (void)st::File::open(p);
  } catch (const folio::Error& e) {
    CHECK(e.code() == expected);
    CHECK(contains(e.what(), p.string()));
    return e.what();
  }
  FAIL("expected failure");
  return "";
}

}  // namespace

TEST_CASE("safetensors: round trip through the writer") {
  TempDir tmp("st_rt");
  const std::vector<float> a = {1, 2, 3, 4, 5, 6};
  std::vector<std::byte> b(4);
  const uint16_t h0 = folio::f32_to_bf16(1.5f), h1 = folio::f32_to_bf16(-2.0f);
  std::memcpy(b.data(), &h0, 2);
  std::memcpy(b.data() + 2, &h1, 2);
  const st::TensorToWrite ts[] = {{"a", st::Dtype::f32, {2, 3}, std::as_bytes(std::span(a))},
                                  {"b", st::Dtype::bf16, {2}, b}};
  st::write(tmp.path / "t.safetensors", ts, {{"format", "pt"}});
  const st::File f = st::File::open(tmp.path / "t.safetensors");
  CHECK(f.tensors().size() == 2);
  CHECK(f.metadata().at("format") == "pt");
  const st::Tensor* ta = f.find("a");
  REQUIRE(ta);
  CHECK(ta->shape == std::vector<uint64_t>{2, 3});
  std::vector<float> got(6);
  st::to_f32(*ta, 0, got);
  CHECK(got == a);
  std::vector<float> gb(2);
  st::to_f32(*f.find("b"), 0, gb);
  CHECK(gb == std::vector<float>{1.5f, -2.0f});
}

TEST_CASE("safetensors hostile: headers, offsets and sizes") {
  TempDir tmp("st_bad");
  CHECK(contains(st_error(raw_safetensors(tmp, "", 0, 0).parent_path() / "missing.safetensors", folio::Errc::io),
                 "cannot open"));
  {
    const auto p = tmp.path / "short.safetensors";
    std::ofstream(p) << "abc";
    CHECK(contains(st_error(p), "too short"));
  }
  CHECK(contains(st_error(raw_safetensors(tmp, "{}", 0, uint64_t(1) << 40)), "exceeds the limit"));
  CHECK(contains(st_error(raw_safetensors(tmp, "{}", 0, 1000)), "past the end of the file"));
  CHECK(contains(st_error(raw_safetensors(tmp, "{\"a\": ", 0)), "(header)"));
  CHECK(contains(st_error(raw_safetensors(tmp, "[1]", 0)), "expected a JSON object"));
  CHECK(contains(st_error(raw_safetensors(tmp, R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 4)),
                 "past the end of the data"));
  CHECK(contains(st_error(raw_safetensors(tmp, R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 16)),
                 "need 12"));
  CHECK(contains(st_error(raw_safetensors(tmp, R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})", 16)),
                 "begin 8 > end 0"));
  CHECK(contains(st_error(raw_safetensors(tmp, R"({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", 16)),
                 "non-negative"));
  CHECK(contains(st_error(raw_safetensors(tmp, R"({"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}})", 16)),
                 "overflows"));
  CHECK(contains(st_error(raw_safetensors(tmp, R"({"a": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 8]}})", 16),
                          folio::Errc::unsupported),
                 "unknown dtype 'Q4'"));
  CHECK(contains(st_error(raw_safetensors(tmp, R"({"a": {"dtype": "F32", "shape": [2]}})", 16)), "data_offsets"));
  CHECK(contains(st_error(raw_safetensors(tmp, R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                                  "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", 16)),
                 "overlaps"));
  CHECK(contains(st_error(raw_safetensors(tmp, R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                                  "a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})", 16)),
                 "duplicate object key"));
  // An unconvertible but valid dtype parses; converting it is refused.
  const st::File ok = st::File::open(raw_safetensors(tmp, R"({"i": {"dtype": "I64", "shape": [2], "data_offsets": [0, 16]}})", 16));
  std::vector<float> v(2);
  CHECK_THROWS_AS(st::to_f32(ok.tensors()[0], 0, v), folio::Error);
}

// ---- the committed parity fixtures (made by scripts/make-parity-fixtures.py) --

#include "runtime/tokenizer/tokenizer.hpp"

TEST_CASE("convert: parity fixtures convert exactly, and their tokenizer matches HF tokenizers") {
  const std::filesystem::path root = FOLIO_TEST_DATA "/parity";
  const folio::json::Value checks = folio::json::parse_file(root / "tokenizer_check.json");
  for (const char* name : {"qwen3moe", "qwen3"}) {
    CAPTURE(name);
    TempDir tmp("parity_convert");
    const auto out = tmp.path / "m.gguf";
    const convert::Summary s = run(root / name, out, convert::OutType::f32);
    CHECK(s.architecture == name);
    CHECK(s.vocab_size == 512);
    const gguf::File f = gguf::File::open(out);
    const st::File src = st::File::open(root / name / "model.safetensors");
    // Every source tensor appears bit-exactly (experts inside their stack).
    std::vector<float> a, b;
    for (const st::Tensor& t : src.tensors()) {
      a.resize(t.n_elements);
      st::to_f32(t, 0, a);
      std::string gname;
      uint64_t first = 0;
      const std::string& n = t.name;
      if (n == "model.embed_tokens.weight") gname = "token_embd.weight";
      else if (n == "lm_head.weight") gname = "output.weight";
      else if (n == "model.norm.weight") gname = "output_norm.weight";
      else {
        const size_t dot = n.find('.', 13);  // "model.layers.N."
        const std::string layer = n.substr(13, dot - 13), rest = n.substr(dot + 1);
        const std::string blk = "blk." + layer + ".";
        static const std::map<std::string, std::string> simple = {
            {"input_layernorm.weight", "attn_norm.weight"}, {"post_attention_layernorm.weight", "ffn_norm.weight"},
            {"self_attn.q_proj.weight", "attn_q.weight"},   {"self_attn.k_proj.weight", "attn_k.weight"},
            {"self_attn.v_proj.weight", "attn_v.weight"},   {"self_attn.o_proj.weight", "attn_output.weight"},
            {"self_attn.q_norm.weight", "attn_q_norm.weight"}, {"self_attn.k_norm.weight", "attn_k_norm.weight"},
            {"mlp.gate.weight", "ffn_gate_inp.weight"},     {"mlp.gate_proj.weight", "ffn_gate.weight"},
            {"mlp.up_proj.weight", "ffn_up.weight"},        {"mlp.down_proj.weight", "ffn_down.weight"}};
        if (auto it = simple.find(rest); it != simple.end()) {
          gname = blk + it->second;
        } else {
          REQUIRE(rest.rfind("mlp.experts.", 0) == 0);
          const size_t d2 = rest.find('.', 12);
          const uint64_t e = std::stoull(rest.substr(12, d2 - 12));
          const std::string proj = rest.substr(d2 + 1, rest.find('_', d2) - d2 - 1);  // gate/up/down
          gname = blk + "ffn_" + proj + "_exps.weight";
          first = e * t.n_elements;
        }
      }
      const gguf::TensorInfo* g = f.find_tensor(gname);
      REQUIRE_MESSAGE(g != nullptr, gname);
      b.resize(t.n_elements);
      gguf::dequantize_row(*g, first, b);
      CHECK_MESSAGE(a == b, n);
    }
    // Tokenizer: the GGUF's vocabulary encodes like HF `tokenizers` did.
    const folio::tok::Tokenizer tok(folio::tok::vocab_from_gguf(f));
    for (const folio::json::Value& c : checks.as_array()) {
      std::vector<folio::tok::TokenId> want;
      for (const folio::json::Value& id : c["ids"].as_array()) want.push_back(folio::tok::TokenId(id.as_int64()));
      const std::string& text = c["text"].as_string();
      CHECK_MESSAGE(tok.encode(text, /*parse_special=*/true) == want, text.substr(0, 60));
      CHECK(tok.decode(want) == text);
    }
  }
}
