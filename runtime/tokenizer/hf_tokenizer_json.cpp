#include "runtime/tokenizer/hf_tokenizer_json.hpp"

#include <fstream>
#include <sstream>
#include <string>
#include <unordered_map>

#include "runtime/common/error.hpp"
#include "runtime/common/json.hpp"

namespace folio::tok {

namespace {

// The published pre-tokenizer regexes, as tokenizer.json spells them.
constexpr std::string_view kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Hostile-input limits: far above any published tokenizer.
constexpr int64_t kMaxTokens = int64_t(1) << 24;
constexpr size_t kMaxTokenBytes = 1 << 16;

class Reader {
 public:
  explicit Reader(std::string_view name) : name_(name) {}

  [[noreturn]] void bad(const std::string& field, const std::string& what, Errc code = Errc::format) const {
    fail(code, std::string(name_) + ": " + field + ": " + what);
  }

  const json::Value& member(const json::Value& v, std::string_view key, const std::string& where) const {
    const json::Value* m = v.find(key);
    if (!m) bad(where, "missing key '" + std::string(key) + "'");
    return *m;
  }

  const std::string& string(const json::Value& v, const std::string& where) const {
    if (!v.is_string()) bad(where, std::string("expected a string, found ") + json::kind_name(v.kind()));
    return v.as_string();
  }

  int64_t id(const json::Value& v, const std::string& where) const {
    if (!v.is_integer()) bad(where, std::string("expected an integer id, found ") + json::kind_name(v.kind()));
    const int64_t i = v.as_int64();
    if (i < 0 || i >= kMaxTokens) bad(where, "token id " + std::to_string(i) + " out of range");
    return i;
  }

  const std::string& token_text(const json::Value& v, const std::string& where) const {
    const std::string& s = string(v, where);
    if (s.empty()) bad(where, "empty token");
    if (s.size() > kMaxTokenBytes) bad(where, "token of " + std::to_string(s.size()) + " bytes");
    return s;
  }

 private:
  std::string_view name_;
};

// Picks the pre-tokenizer from the pre_tokenizer section.
PreTokenizer read_pre_tokenizer(const Reader& r, const json::Value* pre) {
  if (!pre || pre->is_null()) r.bad("pre_tokenizer", "missing (a byte-level BPE needs one)", Errc::unsupported);
  std::vector<const json::Value*> steps;
  const std::string& type = r.string(r.member(*pre, "type", "pre_tokenizer"), "pre_tokenizer.type");
  if (type == "Sequence") {
    const json::Value& list = r.member(*pre, "pretokenizers", "pre_tokenizer");
    if (!list.is_array()) r.bad("pre_tokenizer.pretokenizers", "expected an array");
    for (const json::Value& s : list.as_array()) steps.push_back(&s);
  } else {
    steps.push_back(pre);
  }
  std::optional<PreTokenizer> kind;
  bool byte_level = false;
  for (const json::Value* s : steps) {
    const std::string& t = r.string(r.member(*s, "type", "pre_tokenizer"), "pre_tokenizer.type");
    if (t == "Split") {
      const json::Value& pattern = r.member(*s, "pattern", "pre_tokenizer.Split");
      const json::Value* regex = pattern.find("Regex");
      if (!regex) r.bad("pre_tokenizer.Split.pattern", "only Regex patterns are supported", Errc::unsupported);
      const std::string& text = r.string(*regex, "pre_tokenizer.Split.pattern.Regex");
      const json::Value* behavior = s->find("behavior");
      const json::Value* invert = s->find("invert");
      if ((behavior && r.string(*behavior, "pre_tokenizer.Split.behavior") != "Isolated") ||
          (invert && invert->is_bool() && invert->as_bool()))
        r.bad("pre_tokenizer.Split", "only behavior Isolated without invert is supported", Errc::unsupported);
      if (kind) r.bad("pre_tokenizer", "more than one splitting step", Errc::unsupported);
      if (text == kQwen2Regex) kind = PreTokenizer::qwen2;
      else if (text == kLlama3Regex) kind = PreTokenizer::llama3;
      else r.bad("pre_tokenizer.Split.pattern.Regex", "unknown regex \"" + text + "\"", Errc::unsupported);
    } else if (t == "ByteLevel") {
      byte_level = true;
      const json::Value* prefix = s->find("add_prefix_space");
      if (prefix && prefix->is_bool() && prefix->as_bool())
        r.bad("pre_tokenizer.ByteLevel.add_prefix_space", "true is not supported", Errc::unsupported);
      const json::Value* use_regex = s->find("use_regex");
      const bool regex = !use_regex || !use_regex->is_bool() || use_regex->as_bool();  // default true
      if (regex) {
        if (kind) r.bad("pre_tokenizer", "more than one splitting step", Errc::unsupported);
        kind = PreTokenizer::gpt2;
      }
    } else {
      r.bad("pre_tokenizer", "unsupported pre-tokenizer type '" + t + "'", Errc::unsupported);
    }
  }
  if (!byte_level) r.bad("pre_tokenizer", "no ByteLevel step: not a byte-level BPE", Errc::unsupported);
  if (!kind) r.bad("pre_tokenizer", "no splitting step", Errc::unsupported);
  return *kind;
}

// bos_token etc. in tokenizer_config.json: a string, an {"content": ...} object or null.
std::optional<std::string> config_token(const Reader& r, const json::Value& config, std::string_view key) {
  const json::Value* v = config.find(key);
  if (!v || v->is_null()) return std::nullopt;
  if (v->is_object()) return r.string(r.member(*v, "content", std::string(key)), std::string(key) + ".content");
  return r.string(*v, std::string(key));
}

}  // namespace

Vocab vocab_from_hf_tokenizer_json_text(std::string_view tokenizer_json, std::string_view display_name,
                                        std::string_view config_json) {
  const Reader r(display_name);
  const json::Value root = json::parse(tokenizer_json, display_name);
  if (!root.is_object()) r.bad("top level", "expected an object");
  const json::Value& model = r.member(root, "model", "top level");
  if (const json::Value* t = model.find("type"); t && r.string(*t, "model.type") != "BPE")
    r.bad("model.type", "'" + t->as_string() + "' is not supported (only BPE)", Errc::unsupported);
  for (const char* flag : {"byte_fallback", "fuse_unk"})
    if (const json::Value* f = model.find(flag); f && f->is_bool() && f->as_bool())
      r.bad(std::string("model.") + flag, "true is not supported (byte-level BPE)", Errc::unsupported);
  Vocab vocab;
  if (const json::Value* n = root.find("normalizer"); n && !n->is_null()) {
    const std::string& t = r.string(r.member(*n, "type", "normalizer"), "normalizer.type");
    if (t != "NFC") r.bad("normalizer", "type '" + t + "' is not supported (only NFC)", Errc::unsupported);
    vocab.normalizer = Normalizer::nfc;
  }
  vocab.pre = read_pre_tokenizer(r, root.find("pre_tokenizer"));
  if (const json::Value* im = model.find("ignore_merges"); im && im->is_bool()) vocab.ignore_merges = im->as_bool();

  // model.vocab: token -> id.
  const json::Value& vocab_json = r.member(model, "vocab", "model");
  if (!vocab_json.is_object()) r.bad("model.vocab", "expected an object");
  std::vector<std::optional<std::string>> slots;
  std::vector<TokenType> types;
  // Ids may leave holes (filled below), but not so many that a small file
  // could make us allocate millions of empty slots.
  const json::Value* added = root.find("added_tokens");
  const size_t n_entries = vocab_json.size() + (added && added->is_array() ? added->size() : 0);
  const size_t max_slots = n_entries + 65536;
  auto place = [&](int64_t id, const std::string& text, TokenType type, const std::string& where) {
    if (size_t(id) >= max_slots)
      r.bad(where, "token id " + std::to_string(id) + " leaves too large a gap (" + std::to_string(n_entries) +
                       " tokens in the file)");
    if (size_t(id) >= slots.size()) {
      slots.resize(size_t(id) + 1);
      types.resize(size_t(id) + 1, TokenType::normal);
    }
    if (slots[size_t(id)] && *slots[size_t(id)] != text)
      r.bad(where, "id " + std::to_string(id) + " is given to both \"" + *slots[size_t(id)] + "\" and \"" + text + "\"");
    slots[size_t(id)] = text;
    types[size_t(id)] = type;
  };
  for (const json::Member& m : vocab_json.as_object()) {
    const std::string where = "model.vocab[\"" + m.key + "\"]";
    if (m.key.empty() || m.key.size() > kMaxTokenBytes) r.bad(where, "bad token text");
    place(r.id(m.value, where), m.key, TokenType::normal, where);
  }

  // added_tokens: verbatim text, special -> control.
  if (added && !added->is_null()) {
    if (!added->is_array()) r.bad("added_tokens", "expected an array");
    size_t i = 0;
    for (const json::Value& a : added->as_array()) {
      const std::string where = "added_tokens[" + std::to_string(i++) + "]";
      if (!a.is_object()) r.bad(where, "expected an object");
      const std::string& text = r.token_text(r.member(a, "content", where), where + ".content");
      const json::Value* special = a.find("special");
      const bool is_special = special && special->is_bool() && special->as_bool();
      const int64_t id = r.id(r.member(a, "id", where), where + ".id");
      if (size_t(id) < slots.size() && slots[size_t(id)] && *slots[size_t(id)] == text) {
        types[size_t(id)] = is_special ? TokenType::control : TokenType::user_defined;
      } else {
        place(id, text, is_special ? TokenType::control : TokenType::user_defined, where);
      }
    }
  }
  vocab.tokens.reserve(slots.size());
  for (size_t id = 0; id < slots.size(); ++id) {
    if (slots[id]) {
      vocab.tokens.push_back(std::move(*slots[id]));
    } else {
      vocab.tokens.push_back("[PAD" + std::to_string(id) + "]");
      types[id] = TokenType::unused;
    }
  }
  vocab.token_types = std::move(types);

  // model.merges: "a b" strings or [a, b] arrays.
  const json::Value& merges = r.member(model, "merges", "model");
  if (!merges.is_array()) r.bad("model.merges", "expected an array");
  vocab.merges.reserve(merges.size());
  size_t i = 0;
  for (const json::Value& m : merges.as_array()) {
    const std::string where = "model.merges[" + std::to_string(i++) + "]";
    if (m.is_string()) {
      vocab.merges.push_back(m.as_string());
    } else if (m.is_array() && m.size() == 2) {
      const std::string& a = r.token_text(m[0], where + "[0]");
      const std::string& b = r.token_text(m[1], where + "[1]");
      if (a.find(' ') != std::string::npos || b.find(' ') != std::string::npos)
        r.bad(where, "a merge token contains a space");
      vocab.merges.push_back(a + " " + b);
    } else {
      r.bad(where, "expected \"a b\" or [\"a\", \"b\"]");
    }
  }

  auto id_of = [&](const std::string& text, const std::string& where) -> TokenId {
    for (size_t id = 0; id < vocab.tokens.size(); ++id)
      if (vocab.tokens[id] == text) return TokenId(id);
    r.bad(where, "token \"" + text + "\" is not in the vocabulary");
  };

  // Llama 3: TemplateProcessing that starts with a special token = BOS.
  if (const json::Value* post = root.find("post_processor"); post && post->is_object()) {
    std::vector<const json::Value*> procs{post};
    if (const json::Value* list = post->find("processors"); list && list->is_array())
      for (const json::Value& p : list->as_array()) procs.push_back(&p);
    for (const json::Value* p : procs) {
      const json::Value* type = p->find("type");
      const json::Value* single = p->find("single");
      if (!type || !type->is_string() || type->as_string() != "TemplateProcessing" || !single ||
          !single->is_array() || single->size() == 0)
        continue;
      if (const json::Value* st = (*single)[0].find("SpecialToken")) {
        vocab.bos = id_of(r.string(r.member(*st, "id", "post_processor"), "post_processor.single[0].SpecialToken.id"),
                          "post_processor");
        vocab.add_bos = true;
      }
    }
  }

  if (!config_json.empty()) {
    const std::string config_name = std::string(display_name) + " (tokenizer_config.json)";
    const Reader c(config_name);
    const json::Value config = json::parse(config_json, config_name);
    if (!config.is_object()) c.bad("top level", "expected an object");
    if (auto t = config_token(c, config, "bos_token")) vocab.bos = id_of(*t, "tokenizer_config.json bos_token");
    if (auto t = config_token(c, config, "eos_token")) vocab.eos = id_of(*t, "tokenizer_config.json eos_token");
    if (auto t = config_token(c, config, "pad_token")) vocab.pad = id_of(*t, "tokenizer_config.json pad_token");
    if (const json::Value* b = config.find("add_bos_token"); b && b->is_bool()) vocab.add_bos = b->as_bool();
    if (const json::Value* t = config.find("chat_template")) {
      if (t->is_string()) {
        vocab.chat_template = t->as_string();
      } else if (t->is_array()) {  // [{"name": "default", "template": "..."}, ...]
        for (const json::Value& e : t->as_array()) {
          const json::Value* name = e.find("name");
          const json::Value* text = e.find("template");
          if (name && name->is_string() && name->as_string() == "default" && text && text->is_string())
            vocab.chat_template = text->as_string();
        }
      }
    }
  }
  if (vocab.add_bos && !vocab.bos) r.bad("add_bos_token", "true but there is no bos_token");
  return vocab;
}

namespace {
std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(Errc::io, path.string() + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail(Errc::io, path.string() + ": read failed");
  return std::move(ss).str();
}
}  // namespace

Vocab vocab_from_hf_tokenizer_json(const std::filesystem::path& path) {
  const std::string text = read_file(path);
  const std::filesystem::path config_path = path.parent_path() / "tokenizer_config.json";
  std::string config;
  std::error_code ec;
  if (std::filesystem::is_regular_file(config_path, ec)) config = read_file(config_path);
  return vocab_from_hf_tokenizer_json_text(text, path.string(), config);
}

}  // namespace folio::tok
