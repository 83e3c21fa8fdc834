// Polls Extend for real: one GET per poll or list page through the shared HTTPS pool, with the
// headers every request needs, and the answer read by interpret_answer / interpret_list.
#pragma once

#include "core/extend/run_source.hpp"
#include "core/net/https_pool.hpp"

#include <optional>
#include <string>

namespace hookless {

struct extend_client_options {
  std::string base_path;  // path prefix of extend.base_url ("" for https://api.extend.ai)
  std::string api_key;    // never logged
  std::string api_version;
  std::optional<std::string> workspace_id;
  std::string user_agent;
};

class extend_client final : public run_source {
 public:
  extend_client(https_pool& pool, extend_client_options options);
  awaitable<extend_answer> fetch(const run_kind_info& kind, std::string_view run_id, send_turn wait_turn,
                                 request_place where) override;
  awaitable<list_answer> list(const run_kind_info& kind, const page_request& page, send_turn wait_turn,
                              request_place where) override;

 private:
  awaitable<fetch_result> get(std::string target, send_turn wait_turn, request_place where);

  https_pool& pool_;
  extend_client_options options_;
};

}  // namespace hookless
