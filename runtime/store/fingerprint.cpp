#include "runtime/store/fingerprint.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "runtime/common/error.hpp"

namespace folio::store {

Hash128 model_fingerprint(std::span<const NamedBytes> parts) {
  std::vector<const NamedBytes*> sorted;
  sorted.reserve(parts.size());
  for (const auto& p : parts) sorted.push_back(&p);
  std::sort(sorted.begin(), sorted.end(), [](const NamedBytes* a, const NamedBytes* b) { return a->name < b->name; });
  for (size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i]->name == sorted[i - 1]->name)
      fail(Errc::invalid_argument, "model_fingerprint: part '" + std::string(sorted[i]->name) + "' given twice");
  Hasher h;
  h.update("folio.model.parts.v1").u64(sorted.size());
  for (const auto* p : sorted) h.field(p->name).field(p->bytes);
  return h.digest();
}

}  // namespace folio::store
