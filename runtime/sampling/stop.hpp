// Stop strings matched on decoded text across token boundaries.
//
// Generated text is pushed piece by piece; the matcher returns what may be
// shown now and holds back a tail that could still turn into a stop string
// ("<|im" after "Hello <|"), so a stop string is never half-printed. When a
// stop string completes, the text before it is released and `stopped()` is true.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace folio::sampling {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  // Appends `piece`; returns the text that is now safe to emit.
  std::string push(std::string_view piece);
  // End of generation: returns whatever was held back (nothing once stopped).
  std::string flush();
  bool stopped() const noexcept { return stopped_; }
  // The stop string that matched (empty if none).
  const std::string& matched() const noexcept { return matched_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
  std::string matched_;
};

}  // namespace folio::sampling
