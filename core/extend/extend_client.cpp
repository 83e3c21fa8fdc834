// Extend's GET /{collection}/{id} and GET /{collection}?..., with their headers, through the pool.
#include "core/extend/extend_client.hpp"

#include <spdlog/spdlog.h>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

namespace hookless {

extend_client::extend_client(https_pool& pool, extend_client_options options)
    : pool_(pool), options_(std::move(options)) {}

awaitable<fetch_result> extend_client::get(std::string target, send_turn wait_turn, request_place where) {
  std::vector<std::pair<std::string, std::string>> headers{
      {"authorization", "Bearer " + options_.api_key},
      {"x-extend-api-version", options_.api_version},
      {"accept", "application/json"},
      {"user-agent", options_.user_agent},
  };
  if (options_.workspace_id) headers.emplace_back("x-extend-workspace-id", *options_.workspace_id);
  // (Every argument a named local: g++ 12 destroys some temporaries of a co_await's arguments twice.)
  auto full_target = options_.base_path + target;
  auto reply = co_await pool_.get(std::move(full_target), std::move(headers), std::move(wait_turn), where);
  co_return reply;
}

awaitable<extend_answer> extend_client::fetch(const run_kind_info& kind, std::string_view run_id, send_turn wait_turn,
                                              request_place where) {
  // Run IDs are checked to be [A-Za-z0-9_-] at registration: safe in a path as they are.
  auto target = std::string{kind.path} + "/" + std::string{run_id};
  const auto reply = co_await get(std::move(target), std::move(wait_turn), where);
  if (!reply) {
    extend_answer failed;
    failed.kind = answer_kind::unreachable;
    failed.error = reply.error().message();
    co_return failed;
  }
  if (reply->request_id) spdlog::debug("run_id={} status={} request_id={}", run_id, reply->status, *reply->request_id);
  std::optional<std::string_view> retry_after;
  if (reply->retry_after) retry_after = *reply->retry_after;
  co_return interpret_answer(reply->status, reply->body, retry_after, kind, run_id, std::chrono::system_clock::now());
}

awaitable<list_answer> extend_client::list(const run_kind_info& kind, const page_request& page, send_turn wait_turn,
                                           request_place where) {
  std::string target =
      std::string{kind.path} + "?sortBy=updatedAt&sortDir=desc&maxPageSize=" + std::to_string(page.max_page_size);
  if (page.page_token) {
    target += "&nextPageToken=" + boost::urls::encode(*page.page_token, boost::urls::unreserved_chars);
  }
  const auto reply = co_await get(std::move(target), std::move(wait_turn), where);
  if (!reply) {
    list_answer failed;
    failed.kind = answer_kind::unreachable;
    failed.error = reply.error().message();
    co_return failed;
  }
  if (reply->request_id) spdlog::debug("list {} status={} request_id={}", kind.path, reply->status, *reply->request_id);
  std::optional<std::string_view> retry_after;
  if (reply->retry_after) retry_after = *reply->retry_after;
  co_return interpret_list(reply->status, reply->body, retry_after, kind, std::chrono::system_clock::now());
}

}  // namespace hookless
