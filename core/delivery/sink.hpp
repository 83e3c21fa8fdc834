// Where finished runs go. A sink delivers one event at a time and says whether it took it; the
// delivery queue in front of it (delivery_queue) handles order, retries and the outbox records.
#pragma once

#include "core/model/awaitable.hpp"
#include "core/model/run.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hookless {

struct delivery_result {
  bool delivered = false;
  std::string error;                                     // when not delivered
  std::optional<std::chrono::milliseconds> retry_after;  // the receiver asked for this delay
};

class sink {
 public:
  virtual ~sink() = default;
  // Returns once the event is confirmed (for a file: synced to disk), or with the reason it was not.
  virtual awaitable<delivery_result> deliver(const delivery_job& job) = 0;
  // Reopens files (SIGHUP, log rotation). Nothing by default.
  virtual void reopen() {}
};

}  // namespace hookless
