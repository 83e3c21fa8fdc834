// Where the scheduler gets a run's current state: Extend over HTTPS (extend_client) in the
// daemon, anything else in tests.
#pragma once

#include "core/extend_answer.hpp"
#include "core/state_store.hpp"

#include <functional>

namespace hookless {

class run_source {
 public:
  virtual ~run_source() = default;
  // Awaited just before each send; false abandons the request.
  using send_turn = std::function<awaitable<bool>()>;
  // One GET of the run. Transport failures come back as answer_kind::unreachable with the reason.
  virtual awaitable<extend_answer> fetch(const run_kind_info& kind, std::string_view run_id, send_turn wait_turn) = 0;
};

}  // namespace hookless
