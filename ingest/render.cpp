// Rendering blocks to model-visible text; see render.hpp for the markup.
#include "ingest/render.hpp"

#include <algorithm>

#include "runtime/common/error.hpp"

namespace folio::ingest {
namespace {

// Attribute values are quoted; a quote or newline inside a path would break the
// markup, so they are escaped.
std::string quote_attr(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out + "\"";
}

void render_heading(const Block& b, RenderedBlock& r) {
  const int hashes = std::clamp<int>(b.level, 1, 6);
  r.text.assign(size_t(hashes), '#');
  r.text += ' ';
  r.anchor_begin = 0;
  if (!b.label.empty()) {
    r.text += b.label;
    if (!b.text.empty()) r.text += ' ';
  }
  r.body_offset = r.text.size();
  r.text += b.text;
  r.anchor_end = r.text.size();
  r.text += "\n\n";
}

void render_code_unit(const Document& doc, const Block& b, RenderedBlock& r) {
  if (!b.label.empty() || b.anchor) {
    r.text = "// " + doc.source;
    if (const auto* t = std::get_if<TextLocation>(&b.where); t && t->line_begin > 0) {
      r.text += ':' + std::to_string(t->line_begin);
      if (t->line_end > t->line_begin) r.text += '-' + std::to_string(t->line_end);
    }
    if (!b.label.empty()) r.text += ' ' + b.label;
    r.anchor_begin = 0;
    r.anchor_end = r.text.size();
    r.text += '\n';
  }
  r.body_offset = r.text.size();
  r.text += b.text;
  if (r.text.empty() || r.text.back() != '\n') r.text += '\n';
  r.text += '\n';
}

void render_cue(const Block& b, RenderedBlock& r) {
  const auto* cue = std::get_if<CueLocation>(&b.where);
  r.text = '[';
  r.text += format_timestamp(cue ? cue->start_ms : 0);
  r.text += ']';
  if (cue && !cue->speaker.empty()) r.text += " " + cue->speaker + ":";
  if (b.anchor) {
    r.anchor_begin = 0;
    r.anchor_end = r.text.size();
  }
  r.text += ' ';
  r.body_offset = r.text.size();
  r.text += b.text;
  r.text += '\n';
}

}  // namespace

RenderedBlock render_block(const Document& doc, size_t block_index) {
  if (block_index >= doc.blocks.size())
    fail(Errc::invalid_argument, doc.source + ": render of missing block " + std::to_string(block_index));
  const Block& b = doc.blocks[block_index];
  RenderedBlock r;
  switch (b.kind) {
    case BlockKind::heading:
      render_heading(b, r);
      return r;
    case BlockKind::code_unit:
      render_code_unit(doc, b, r);
      return r;
    case BlockKind::transcript_cue:
      render_cue(b, r);
      return r;
    case BlockKind::list_item:
      r.text = b.label.empty() ? std::string("- ") : b.label + " ";
      r.body_offset = r.text.size();
      r.text += b.text;
      r.text += '\n';
      break;
    case BlockKind::code:
      r.text = "```\n";
      r.body_offset = r.text.size();
      r.text += b.text;
      if (b.text.empty() || b.text.back() != '\n') r.text += '\n';
      r.text += "```\n\n";
      break;
    case BlockKind::table:
      r.text = b.text;
      r.text += "\n\n";
      break;
    case BlockKind::definition:
      r.text = b.text;
      r.text += "\n\n";
      // The defined term, where it appears in the text, is the anchor text.
      if (!b.label.empty()) {
        if (size_t at = b.text.find(b.label); at != std::string::npos) {
          r.anchor_begin = at;
          r.anchor_end = at + b.label.size();
        }
      }
      return r;
    case BlockKind::paragraph:
    case BlockKind::caption:
      r.text = b.text;
      r.text += "\n\n";
      break;
  }
  if (b.anchor) {  // an anchored block of a kind without its own anchor markup
    r.anchor_begin = r.body_offset;
    r.anchor_end = r.text.size() - (r.text.ends_with("\n\n") ? 2 : r.text.ends_with('\n') ? 1 : 0);
  }
  return r;
}

std::string render_document_header(const Document& doc) {
  return "<document source=" + quote_attr(doc.source) + ">\n";
}

std::string render_document_footer(const Document&) { return "</document>\n\n"; }

std::string render(const Document& doc) {
  std::string out = render_document_header(doc);
  for (size_t i = 0; i < doc.blocks.size(); ++i) out += render_block(doc, i).text;
  out += render_document_footer(doc);
  return out;
}

}  // namespace folio::ingest
