// Where the scheduler gets runs' current state: one run at a time, or a page of a kind's runs most
// recently updated first; Extend over HTTPS (extend_client) in the daemon, anything else in tests.
#pragma once

#include "core/extend/extend_answer.hpp"
#include "core/model/awaitable.hpp"
#include "core/net/request_place.hpp"

#include <cstddef>
#include <functional>
#include <optional>
#include <string>

namespace hookless {

class run_source {
 public:
  virtual ~run_source() = default;
  // Awaited just before each send; false abandons the request.
  using send_turn = std::function<awaitable<bool>()>;
  // One GET of the run, waiting for a connection at `where`. Transport failures come back as
  // answer_kind::unreachable with the reason.
  virtual awaitable<extend_answer> fetch(const run_kind_info& kind, std::string_view run_id, send_turn wait_turn,
                                         request_place where) = 0;

  struct page_request {
    std::size_t max_page_size = 100;
    std::optional<std::string> page_token;  // from the previous page; none for the first
  };
  // One page of GET {kind.path}?sortBy=updatedAt&sortDir=desc (a kind whose info says listable),
  // waiting for a connection at `where`.
  virtual awaitable<list_answer> list(const run_kind_info& kind, const page_request& page, send_turn wait_turn,
                                      request_place where) = 0;
};

}  // namespace hookless
