#include "ingest/code/gitignore.hpp"

#include <algorithm>

namespace folio::ingest::code {
namespace {

// Hostile .gitignore files: bound the work per pattern.
constexpr size_t kMaxPatternBytes = 4096;
constexpr size_t kMaxPatternsPerFile = 10000;

enum class TokenType : uint8_t { literal, any_char, star, any_all, any_dirs, char_class };

struct Token {
  TokenType type = TokenType::literal;
  char ch = 0;
  bool negated = false;        // char_class
  std::string_view members;    // char_class: raw text between the brackets
};

Token token_of(TokenType type, char ch = 0) {
  Token token;
  token.type = type;
  token.ch = ch;
  return token;
}

std::vector<Token> tokenize(std::string_view glob) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < glob.size()) {
    char ch = glob[i];
    bool at_component_start = i == 0 || glob[i - 1] == '/';
    if (ch == '*') {
      size_t run = i;
      while (run < glob.size() && glob[run] == '*') ++run;
      size_t stars = run - i;
      if (stars >= 2 && at_component_start && run == glob.size()) {
        tokens.push_back(token_of(TokenType::any_all));
        i = run;
      } else if (stars >= 2 && at_component_start && glob[run] == '/') {
        tokens.push_back(token_of(TokenType::any_dirs));
        i = run + 1;
      } else {
        tokens.push_back(token_of(TokenType::star));
        i = run;
      }
    } else if (ch == '?') {
      tokens.push_back(token_of(TokenType::any_char));
      ++i;
    } else if (ch == '[') {
      size_t j = i + 1;
      bool negated = false;
      if (j < glob.size() && (glob[j] == '!' || glob[j] == '^')) {
        negated = true;
        ++j;
      }
      size_t members_begin = j;
      if (j < glob.size() && glob[j] == ']') ++j;  // a leading ']' is a member
      while (j < glob.size() && glob[j] != ']') j += (glob[j] == '\\' && j + 1 < glob.size()) ? 2 : 1;
      if (j >= glob.size()) {  // no closing bracket: a literal '['
        tokens.push_back(token_of(TokenType::literal, '['));
        ++i;
      } else {
        tokens.push_back({TokenType::char_class, 0, negated, glob.substr(members_begin, j - members_begin)});
        i = j + 1;
      }
    } else if (ch == '\\' && i + 1 < glob.size()) {
      tokens.push_back(token_of(TokenType::literal, glob[i + 1]));
      i += 2;
    } else {
      tokens.push_back(token_of(TokenType::literal, ch));
      ++i;
    }
  }
  return tokens;
}

bool class_matches(const Token& token, char ch) {
  bool found = false;
  std::string_view m = token.members;
  for (size_t i = 0; i < m.size() && !found;) {
    char lo = m[i];
    if (lo == '\\' && i + 1 < m.size()) lo = m[++i];
    ++i;
    if (i + 1 < m.size() && m[i] == '-') {
      char hi = m[i + 1];
      if (hi == '\\' && i + 2 < m.size()) {
        hi = m[i + 2];
        ++i;
      }
      i += 2;
      found = static_cast<unsigned char>(ch) >= static_cast<unsigned char>(lo) &&
              static_cast<unsigned char>(ch) <= static_cast<unsigned char>(hi);
    } else {
      found = ch == lo;
    }
  }
  return found != token.negated;
}

std::string_view base_name(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

bool glob_match(std::string_view glob, std::string_view text) {
  std::vector<Token> tokens = tokenize(glob);
  const size_t n = text.size();
  // Bottom-up over tokens: next[t] = tokens[p+1..] match text[t..].
  std::vector<uint8_t> next(n + 1, 0), cur(n + 1, 0);
  next[n] = 1;
  for (size_t p = tokens.size(); p-- > 0;) {
    const Token& token = tokens[p];
    uint8_t dirs_tail = 0;  // any_dirs: some k > t with text[k-1] == '/' and next[k]
    for (size_t t = n + 1; t-- > 0;) {
      bool has = t < n;
      char ch = has ? text[t] : '\0';
      uint8_t match = 0;
      switch (token.type) {
        case TokenType::literal: match = has && ch == token.ch && next[t + 1]; break;
        case TokenType::any_char: match = has && ch != '/' && next[t + 1]; break;
        case TokenType::char_class: match = has && ch != '/' && class_matches(token, ch) && next[t + 1]; break;
        case TokenType::star: match = next[t] || (has && ch != '/' && cur[t + 1]); break;
        case TokenType::any_all: match = next[t] || (has && cur[t + 1]); break;
        case TokenType::any_dirs:
          if (has && ch == '/' && next[t + 1]) dirs_tail = 1;
          match = next[t] || dirs_tail;
          break;
      }
      cur[t] = match;
    }
    std::swap(cur, next);
    std::fill(cur.begin(), cur.end(), 0);
  }
  return next[0] != 0;
}

IgnoreFile::IgnoreFile(std::string base, std::string_view text, std::string_view origin) : base_(std::move(base)) {
  size_t line_number = 0;
  for (size_t pos = 0; pos <= text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    if (line.size() > kMaxPatternBytes || patterns_.size() >= kMaxPatternsPerFile) {
      ++unused_lines_;
      continue;
    }
    // Trailing spaces go unless escaped.
    while (!line.empty() && line.back() == ' ' && !(line.size() >= 2 && line[line.size() - 2] == '\\'))
      line.remove_suffix(1);
    IgnorePattern pattern;
    pattern.written = std::string(line);
    if (line.front() == '!') {
      pattern.negated = true;
      line.remove_prefix(1);
    }
    while (!line.empty() && line.back() == '/') {
      pattern.directory_only = true;
      line.remove_suffix(1);
    }
    if (line.empty()) continue;
    pattern.anchored = line.find('/') != std::string_view::npos;
    while (!line.empty() && line.front() == '/') line.remove_prefix(1);
    if (line.empty()) continue;
    pattern.glob = std::string(line);
    pattern.origin = std::string(origin) + ":" + std::to_string(line_number);
    patterns_.push_back(std::move(pattern));
  }
}

const IgnorePattern* IgnoreFile::match(std::string_view path, bool is_directory) const {
  std::string_view relative = path;
  if (!base_.empty()) {
    if (!(relative.size() > base_.size() && relative.starts_with(base_) && relative[base_.size()] == '/'))
      return nullptr;
    relative.remove_prefix(base_.size() + 1);
  }
  std::string_view name = base_name(relative);
  for (auto it = patterns_.rbegin(); it != patterns_.rend(); ++it) {
    if (it->directory_only && !is_directory) continue;
    if (glob_match(it->glob, it->anchored ? relative : name)) return &*it;
  }
  return nullptr;
}

IgnoreVerdict ignore_verdict(std::span<const IgnoreFile* const> files, std::string_view path, bool is_directory) {
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    if (const IgnorePattern* pattern = (*it)->match(path, is_directory))
      return IgnoreVerdict{!pattern->negated, pattern};
  }
  return {};
}

}  // namespace folio::ingest::code
