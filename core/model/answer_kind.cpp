// The names of the answer kinds, as logs and metrics show them.
#include "core/model/answer_kind.hpp"

namespace hookless {

const char* answer_name(answer_kind kind) {
  switch (kind) {
    case answer_kind::run: return "run";
    case answer_kind::not_found: return "not_found";
    case answer_kind::rate_limited: return "rate_limited";
    case answer_kind::unauthorized: return "unauthorized";
    case answer_kind::retryable: return "error";
    case answer_kind::unreachable: return "unreachable";
    case answer_kind::malformed: return "malformed";
  }
  return "unknown";
}

}  // namespace hookless
