// `folio tokenize`: run a model's tokenizer on text (or decode ids) and show the
// result as ids, pieces or both. The tokenizer comes from a GGUF file or from a
// Hugging Face tokenizer.json, which can also be saved as a tokenizer-only GGUF.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/common/error.hpp"
#include "runtime/common/json.hpp"
#include "runtime/gguf/gguf.hpp"
#include "runtime/tokenizer/hf_tokenizer_json.hpp"
#include "runtime/tokenizer/tokenizer.hpp"
#include "tools/folio/arg_reader.hpp"
#include "tools/folio/commands.hpp"

namespace folio::cli {

namespace {

constexpr const char* kUsage =
    "usage: folio tokenize (--model M.gguf | --tokenizer-json tokenizer.json)\n"
    "                      [--ids | --pieces | --json] [--special] [--bos]\n"
    "                      [--file F | TEXT...]\n"
    "       folio tokenize (--model M.gguf | --tokenizer-json J) --decode ID...\n"
    "       folio tokenize --tokenizer-json J --save-gguf OUT.gguf\n"
    "       folio tokenize --model M.gguf --template\n"
    "\n"
    "Encodes TEXT (the arguments joined by spaces), the contents of --file, or\n"
    "standard input, and prints one line per token: id and piece (the token's\n"
    "bytes as a JSON string).\n"
    "\n"
    "  --model M.gguf          tokenizer from a GGUF file (tokenizer.ggml.*)\n"
    "  --tokenizer-json J      tokenizer from a Hugging Face tokenizer.json (a\n"
    "                          tokenizer_config.json next to it is read too)\n"
    "  --ids                   print only the ids, space-separated, on one line\n"
    "  --pieces                print only the pieces, one per line\n"
    "  --json                  print {\"ids\": [...], \"pieces\": [...]} \n"
    "  --special               recognise control tokens written in the text\n"
    "                          (\"<|im_start|>\"); user-defined ones always are\n"
    "  --bos                   prepend BOS when the vocabulary asks for it\n"
    "  --file F                read the text from F ('-' for standard input)\n"
    "  --decode                the arguments are ids: print their decoded text\n"
    "  --save-gguf OUT         write the tokenizer as a tokenizer-only GGUF file\n"
    "  --template              print the file's chat template (tokenizer.chat_template)\n"
    "  -h, --help              this help\n";

std::string read_all(std::istream& in) {
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

int run_tokenize(Args args) {
  ArgReader r(args, "tokenize");
  std::string model, tokenizer_json, file, save_gguf;
  enum class Output { both, ids, pieces, json } output = Output::both;
  bool special = false, bos = false, decode = false, show_template = false;
  std::vector<std::string> rest;
  while (!r.done()) {
    const std::string_view a = r.next();
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--model") {
      model = r.value(a);
    } else if (a == "--tokenizer-json") {
      tokenizer_json = r.value(a);
    } else if (a == "--ids") {
      output = Output::ids;
    } else if (a == "--pieces") {
      output = Output::pieces;
    } else if (a == "--json") {
      output = Output::json;
    } else if (a == "--special") {
      special = true;
    } else if (a == "--bos") {
      bos = true;
    } else if (a == "--file") {
      file = r.value(a);
    } else if (a == "--decode") {
      decode = true;
    } else if (a == "--save-gguf") {
      save_gguf = r.value(a);
    } else if (a == "--template") {
      show_template = true;
    } else if (a.size() > 1 && a[0] == '-' && a != "--") {
      r.unknown(a);
    } else {
      if (a != "--") rest.emplace_back(a);
      while (!r.done()) rest.emplace_back(r.next());
    }
  }
  if (model.empty() == tokenizer_json.empty()) {
    std::fprintf(stderr, "folio tokenize: give exactly one of --model M.gguf or --tokenizer-json J\n\n%s", kUsage);
    return 2;
  }

  std::optional<gguf::File> gguf_file;
  tok::Vocab vocab;
  if (!model.empty()) {
    gguf_file = gguf::File::open(model);
    vocab = tok::vocab_from_gguf(*gguf_file);
  } else {
    vocab = tok::vocab_from_hf_tokenizer_json(tokenizer_json);
  }

  if (!save_gguf.empty()) {
    gguf::Writer writer;
    writer.set_string("general.name", "tokenizer");
    tok::write_vocab(writer, vocab);
    writer.write(save_gguf);
    std::fprintf(stderr, "wrote %s (%zu tokens, %zu merges)\n", save_gguf.c_str(), vocab.tokens.size(),
                 vocab.merges.size());
    return 0;
  }
  if (show_template) {
    if (vocab.chat_template.empty()) {
      std::fprintf(stderr, "folio tokenize: the file has no tokenizer.chat_template\n");
      return 1;
    }
    std::fwrite(vocab.chat_template.data(), 1, vocab.chat_template.size(), stdout);
    std::fputc('\n', stdout);
    return 0;
  }

  const tok::Tokenizer tokenizer(std::move(vocab));
  if (decode) {
    std::vector<tok::TokenId> ids;
    for (const std::string& s : rest) {
      std::istringstream in(s);
      long long id = 0;
      while (in >> id) ids.push_back(tok::TokenId(id));
      if (!in.eof()) fail(Errc::invalid_argument, "--decode expects token ids, got '" + s + "'");
    }
    const std::string text = tokenizer.decode(ids);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
    return 0;
  }

  std::string text;
  if (!file.empty() && !rest.empty()) {
    std::fprintf(stderr, "folio tokenize: give the text as arguments or --file, not both\n");
    return 2;
  }
  if (file == "-" || (file.empty() && rest.empty())) {
    text = read_all(std::cin);
  } else if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) fail(Errc::io, file + ": cannot open");
    text = read_all(in);
  } else {
    for (size_t i = 0; i < rest.size(); ++i) text += (i ? " " : "") + rest[i];
  }

  const std::vector<tok::TokenId> ids = bos ? tokenizer.encode_with_bos(text, special) : tokenizer.encode(text, special);
  std::string out;
  switch (output) {
    case Output::ids:
      for (size_t i = 0; i < ids.size(); ++i) out += (i ? " " : "") + std::to_string(ids[i]);
      out += '\n';
      break;
    case Output::pieces:
      for (const tok::TokenId id : ids) {
        json::append_quoted(out, tokenizer.token_bytes(id));
        out += '\n';
      }
      break;
    case Output::both:
      for (const tok::TokenId id : ids) {
        out += std::to_string(id) + '\t';
        json::append_quoted(out, tokenizer.token_bytes(id));
        out += '\n';
      }
      break;
    case Output::json: {
      out += "{\"ids\": [";
      for (size_t i = 0; i < ids.size(); ++i) out += (i ? ", " : "") + std::to_string(ids[i]);
      out += "], \"pieces\": [";
      for (size_t i = 0; i < ids.size(); ++i) {
        if (i) out += ", ";
        json::append_quoted(out, tokenizer.token_bytes(ids[i]));
      }
      out += "]}\n";
      break;
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (output == Output::both) std::fprintf(stderr, "%zu tokens, %zu bytes\n", ids.size(), text.size());
  return 0;
}

}  // namespace folio::cli
