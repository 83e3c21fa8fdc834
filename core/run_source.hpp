// Where the scheduler gets a run's current state: Extend over HTTPS (extend_client) in the
// daemon, anything else in tests.
#pragma once

#include "core/extend_answer.hpp"
#include "core/state_store.hpp"

namespace hookless {

class run_source {
 public:
  virtual ~run_source() = default;
  // One GET of the run. Transport failures come back as answer_kind::retryable with the reason.
  virtual awaitable<extend_answer> fetch(const run_kind_info& kind, std::string_view run_id) = 0;
};

}  // namespace hookless
