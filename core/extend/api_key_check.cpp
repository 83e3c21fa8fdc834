// The start-up check of the API key: one small list page through the budget.
#include "core/extend/api_key_check.hpp"

#include "core/extend/budget_turn.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

namespace hookless {

namespace asio = boost::asio;

awaitable<std::optional<list_answer>> check_api_key(run_source& source, request_budget& budget,
                                                    api_generation generation) {
  const auto kind = describe_kind("workflow_run", generation).value();
  asio::steady_timer wake{co_await asio::this_coro::executor};
  budget_turn turn{budget, wake, request_place::ahead};
  const run_source::send_turn wait_turn = turn.waiter();
  const run_source::page_request page{.max_page_size = 1, .page_token = std::nullopt};
  auto answer = co_await source.list(kind, page, wait_turn, request_place::ahead);
  if (turn.abandoned()) co_return std::nullopt;
  // (A connection that failed before the send took no turn: nothing to record.)
  turn.record(answer.kind, answer.retry_after);
  switch (answer.kind) {
    case answer_kind::run: spdlog::info("API key check: accepted by Extend (GET {}, one run)", kind.path); break;
    case answer_kind::unauthorized:
      spdlog::error("API key check: rejected by Extend ({}); no run can be polled until the key is replaced",
                    answer.error);
      break;
    default:
      spdlog::warn("API key check: no verdict ({}: {}); the first polls will tell", answer_name(answer.kind),
                   answer.error);
      break;
  }
  co_return answer;
}

}  // namespace hookless
