#include "runtime/model/synthetic_vocab.hpp"

#include <cctype>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "runtime/tokenizer/byte_level.hpp"

namespace folio::model {

namespace {

constexpr const char* kSample =
    "The agreement between the parties shall remain in force for a period of three years from the date "
    "on which it is signed. Either party may terminate this agreement by giving written notice to the "
    "other party not less than ninety days before the end of the term. The supplier shall deliver the "
    "goods to the address stated in the order, and the buyer shall pay the price within thirty days of "
    "the invoice. Any dispute arising out of or in connection with this contract shall be referred to "
    "arbitration. The laws of the state in which the buyer has its principal place of business govern "
    "this agreement.\n\n"
    "Section 2. Definitions. In this document, the following words have the meanings given to them: "
    "\"Confidential Information\" means any information that is marked as confidential or that a "
    "reasonable person would understand to be confidential; \"Services\" means the services described "
    "in the schedule; and \"Term\" means the period during which this agreement is in force.\n\n"
    "When the model reads a long document, it looks for the sections, the headings and the clauses "
    "that answer the question. A reader who wants to know when the contract ends should find the "
    "clause about the term and the clause about termination. The answer should cite the section "
    "number and the page on which the text appears, so that the reader can check it.\n\n"
    "def read_file(path):\n    with open(path) as handle:\n        return handle.read()\n\n"
    "for line in lines:\n    if line.startswith('#'):\n        continue\n    print(line.strip())\n\n"
    "Speaker 1: Good morning, everyone. Thank you for joining the meeting today.\n"
    "Speaker 2: Thank you. I would like to start with the results of the last quarter.\n"
    "Speaker 1: Please go ahead, and then we will discuss the plan for the next year.\n\n"
    "Numbers such as 2024, 3.14, 100 and 42 appear in many documents, as do dates like 1 March 2023 "
    "and amounts like $1,250.00. The quick brown fox jumps over the lazy dog. She sells sea shells "
    "by the sea shore, and the shells she sells are surely sea shells.\n";

// Splits text into words the way a GPT-2 style pre-tokenizer roughly would: an
// optional leading space glued to a run of letters, a run of digits, a run of
// other non-space characters, or a run of spaces/newlines.
std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> words;
  size_t i = 0;
  auto kind = [](unsigned char c) {
    if (std::isalpha(c) || c >= 0x80) return 0;
    if (std::isdigit(c)) return 1;
    if (std::isspace(c)) return 2;
    return 3;
  };
  while (i < text.size()) {
    size_t j = i;
    if (text[j] == ' ' && j + 1 < text.size() && kind(static_cast<unsigned char>(text[j + 1])) != 2) ++j;
    const int k = kind(static_cast<unsigned char>(text[j]));
    size_t e = j + 1;
    while (e < text.size() && kind(static_cast<unsigned char>(text[e])) == k) ++e;
    words.push_back(text.substr(i, e - i));
    i = e;
  }
  return words;
}

}  // namespace

const char* synthetic_vocab_sample() noexcept { return kSample; }

tok::Vocab synthetic_vocab(int n_merges) {
  tok::Vocab v;
  for (int b = 0; b < 256; ++b) v.tokens.push_back(tok::byte_level_encode(std::string(1, char(b))));

  // word (as byte-level symbols) -> frequency; std::map keeps the order fixed.
  std::map<std::vector<std::string>, int64_t> words;
  for (const std::string& w : split_words(kSample)) {
    std::vector<std::string> symbols;
    for (unsigned char c : w) symbols.push_back(v.tokens[c]);
    ++words[symbols];
  }
  for (int m = 0; m < n_merges; ++m) {
    std::map<std::pair<std::string, std::string>, int64_t> pairs;
    for (const auto& [sym, freq] : words)
      for (size_t i = 0; i + 1 < sym.size(); ++i) pairs[{sym[i], sym[i + 1]}] += freq;
    if (pairs.empty()) break;
    // Most frequent pair; ties go to the smallest pair (map order), so the result is fixed.
    auto best = pairs.begin();
    for (auto it = pairs.begin(); it != pairs.end(); ++it)
      if (it->second > best->second) best = it;
    const auto [a, b] = best->first;
    v.merges.push_back(a + " " + b);
    v.tokens.push_back(a + b);
    std::map<std::vector<std::string>, int64_t> next;
    for (const auto& [sym, freq] : words) {
      std::vector<std::string> out;
      for (size_t i = 0; i < sym.size(); ++i) {
        if (i + 1 < sym.size() && sym[i] == a && sym[i + 1] == b) {
          out.push_back(a + b);
          ++i;
        } else {
          out.push_back(sym[i]);
        }
      }
      next[out] += freq;
    }
    words = std::move(next);
  }
  v.token_types.assign(v.tokens.size(), tok::TokenType::normal);
  for (int b = 0; b < 256; ++b) v.token_types[size_t(b)] = tok::TokenType::normal;
  auto add = [&](const char* text, tok::TokenType type) {
    v.tokens.emplace_back(text);
    v.token_types.push_back(type);
    return tok::TokenId(v.tokens.size() - 1);
  };
  const tok::TokenId eot = add("<|endoftext|>", tok::TokenType::control);
  add("<|im_start|>", tok::TokenType::control);
  const tok::TokenId im_end = add("<|im_end|>", tok::TokenType::control);
  add("<think>", tok::TokenType::user_defined);
  add("</think>", tok::TokenType::user_defined);
  v.eos = im_end;
  v.pad = eot;
  v.pre = tok::PreTokenizer::qwen2;
  v.chat_template =
      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
      "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  return v;
}

}  // namespace folio::model
