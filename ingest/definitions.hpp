// Defined terms in contracts and licences: `"Confidential Information" means
// ...`, `"License" shall mean ...`, `“Licensor” refers to ...`, `(the
// "Agreement")`, `(hereinafter "Supplier")`. Used by the PDF and plain-text
// parsers to add definition anchors.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace folio::ingest {

struct DefinedTerm {
  std::string term;   // without quotes: "Confidential Information"
  size_t offset = 0;  // byte offset of the opening quote in the text
};

// Terms defined in `text`, in order, without duplicates. A term is 1-8 words in
// straight or curly double quotes starting with an upper-case letter or digit,
// followed by a defining verb ("means", "shall mean", "refers to", "has the
// meaning", "shall have the meaning", "includes", "is defined as"), or standing
// in parentheses as a short-form definition ("(the "Agreement")").
std::vector<DefinedTerm> find_defined_terms(std::string_view text);

}  // namespace folio::ingest
