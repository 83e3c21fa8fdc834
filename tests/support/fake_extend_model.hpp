// The fake Extend API's brain, with no I/O: scripted runs, injected faults, the rate limit and the
// counters tests read. fake_extend (fake_extend.hpp) puts it behind HTTPS; tests of the server and
// this model share these types. Not thread-safe: fake_extend guards it with a mutex.
#pragma once

#include "core/model/run_kind.hpp"
#include "tests/support/test_certs.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <boost/url/params_view.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hookless {

using fake_clock = std::chrono::steady_clock;

// How a 429 tells the client when to come back.
struct retry_after_mode {
  enum class form { seconds, http_date, none };
  form kind = form::seconds;
  std::chrono::seconds value{1};  // the wait announced (as a number, or added to now for a date)
};

struct fake_extend_options {
  std::string api_key = "sk_test_hookless";           // the key accepted as `Authorization: Bearer <key>`
  std::vector<std::string> more_api_keys;             // accepted too: tests that tell daemons apart by key
  std::optional<double> rate_limit;                   // requests/s over a sliding 1 s window, counting every request
  retry_after_mode retry_after;                       // header sent with the rate limit's 429s
  bool auto_runs = false;                             // create unknown IDs with a known prefix at first sight
  std::chrono::milliseconds auto_finish_after{3000};  // when an auto run reaches its final status
  std::uint16_t port = 0;                             // HTTPS port on 127.0.0.1; 0 picks a free one
  std::optional<std::uint16_t> control_port;          // plain-HTTP /_fake/ control API on 127.0.0.1 (0 = any)
  bool log_requests = false;                          // one line per request on stderr
  bool record_requests = true;      // keep every request in stats().requests (off: long, fast benchmarks)
  std::optional<test_certs> certs;  // served certificate; default: fresh, for 127.0.0.1 and localhost
};

// One step of a run's life: the status it shows from `at` after its creation on.
struct timeline_step {
  std::string status;
  std::chrono::milliseconds at{0};
};

struct run_script {
  std::string id;
  std::string kind;                     // e.g. "extract_run"; empty: from the ID's prefix per request version
  std::vector<timeline_step> timeline;  // sorted by `at`; empty means PROCESSED at once
  boost::json::object fields;           // merged into the answered object last (overrides)
  // Filler in the output of a PROCESSED or NEEDS_REVIEW answer (not in lists), made per answer:
  // large outputs for the memory tests and benchmark without a copy kept per run.
  std::size_t output_bytes = 0;
};

enum class fault_kind {
  status_400,    // 400 INVALID_REQUEST (a list refusing its query, say)
  status_500,    // 500 INTERNAL_ERROR
  status_502,    // 502 with an error body
  status_503,    // 503 with an error body
  status_429,    // 429 RATE_LIMIT_EXCEEDED with the configured Retry-After
  unauthorized,  // 401 UNAUTHORIZED, whatever the key
  not_found,     // 404 NOT_FOUND, even for a known run
  cut,           // close the socket after reading the request, no answer
  slow,          // wait `delay`, then answer normally
  truncated,     // headers with the full Content-Length, half the body, then close
  malformed,     // 200 with a body that is not JSON
  // A list page in the wrong order: the page the query asked for, but sorted the other way round
  // (ascending for desc), as a broken or changed list might answer. Affects list requests only.
  list_unsorted,
};

struct fault {
  fault_kind kind = fault_kind::status_500;
  std::optional<std::string> run_id;       // nullopt: every request (lists too)
  std::optional<std::uint32_t> count = 1;  // matching requests it affects; nullopt: always
  std::chrono::milliseconds delay{0};      // for fault_kind::slow
  bool lists_only = false;                 // with run_id nullopt: list requests only, never a run's GET
  // With run_id nullopt: only requests for this path (without the query), e.g. "/workflow_runs" for
  // that list alone (with lists_only) or "/extract_runs/exr_1" for one run's GETs.
  std::optional<std::string> path = std::nullopt;
};

// What the fake saw for one API request.
struct request_record {
  fake_clock::time_point at;
  std::string method;
  std::string target;
  std::string path;                         // target without the query
  std::optional<std::string> run_id;        // for GET /{collection}/{id}
  std::optional<std::string> api_version;   // x-extend-api-version
  std::optional<std::string> workspace_id;  // x-extend-workspace-id
  std::optional<std::string> user_agent;
  std::optional<std::string> api_key;  // the Bearer token sent, accepted or not
  unsigned status = 0;                 // 0 when the connection was cut
};

struct fake_extend_stats {
  std::uint64_t total_requests = 0;
  std::map<std::string, std::uint64_t> requests_per_path;
  std::map<std::string, std::uint64_t> requests_per_run;
  std::map<std::string, std::uint64_t> api_versions;  // header value -> requests ("" when absent)
  std::map<std::string, std::uint64_t> workspaces;    // same for x-extend-workspace-id
  std::map<std::string, std::uint64_t> user_agents;   // same for user-agent
  std::map<std::string, std::uint64_t> api_keys;      // same for the Bearer token
  std::uint64_t responses_429 = 0;                    // by the rate limit and by injected faults
  std::uint64_t connections_accepted = 0;
  std::uint64_t open_connections = 0;
  std::vector<request_record> requests;  // every request, in arrival order

  // The most requests that arrived within any window shorter than `window` (1 s: the rate limit's).
  std::size_t max_requests_in_any_window(std::chrono::nanoseconds window = std::chrono::seconds{1}) const;
  std::size_t max_requests_in_any_second() const { return max_requests_in_any_window(); }
};

// The fake's decision about one request.
struct fake_response {
  enum class action { respond, cut, truncate };
  unsigned status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type / Content-Length
  std::string body;
  action what = action::respond;
  std::chrono::milliseconds delay{0};
};

// The request as the server parsed it.
struct fake_request {
  std::string method;
  std::string target;
  std::optional<std::string> authorization;
  std::optional<std::string> api_version;
  std::optional<std::string> workspace_id;
  std::optional<std::string> user_agent;
  std::string body;  // of a POST that creates a run
};

class fake_extend_model {
 public:
  explicit fake_extend_model(fake_extend_options options, fake_clock::time_point start = fake_clock::now());

  const fake_extend_options& options() const { return options_; }

  // Adds (or replaces) a run created at `now`. Throws std::invalid_argument for an empty ID, a
  // timeline out of order, or no kind given and none known for the ID's prefix.
  void add_run(run_script script, fake_clock::time_point now);
  // From `now` on the run shows `status` (later timeline steps are dropped). False for an unknown ID.
  bool set_status_now(const std::string& id, const std::string& status, fake_clock::time_point now);
  bool has_run(const std::string& id) const { return runs_.contains(id); }

  // Faults are taken in the order injected; one for the request's run wins over the others.
  void inject(fault f) { faults_.push_back(std::move(f)); }
  void clear_faults() { faults_.clear(); }

  // Decides the answer to one API request and records it in the stats.
  fake_response handle(const fake_request& request, fake_clock::time_point now);

  // The control API of the standalone program (POST /_fake/runs, POST|DELETE /_fake/faults,
  // POST /_fake/runs/{id}/status, GET /_fake/stats). A fault is {"kind": as parse_fault_kind reads
  // it, "scope": "all" or a run ID, "count": N or "always", "delay_ms", "lists_only", "path"}.
  fake_response handle_control(const std::string& method, const std::string& target, const std::string& body,
                               fake_clock::time_point now);

  void connection_opened() { ++stats_.connections_accepted, ++stats_.open_connections; }
  void connection_closed() { --stats_.open_connections; }
  const fake_extend_stats& stats() const { return stats_; }
  boost::json::object stats_json() const;

 private:
  struct run_entry {
    run_script script;
    fake_clock::time_point created;
  };

  fake_response answer(const fake_request& request, request_record& record, fake_clock::time_point now);
  std::optional<fault> take_fault(const std::optional<std::string>& run_id, const std::string& path);
  fake_response too_many_requests(fake_clock::time_point now) const;
  bool over_rate_limit(fake_clock::time_point now);
  boost::json::object run_object(const run_entry& run, const timeline_step& step, const run_kind_info& info,
                                 api_generation generation) const;
  fake_response list_runs(const boost::urls::params_view& params, const run_kind_info& info, api_generation generation,
                          fake_clock::time_point now, bool unsorted) const;
  run_entry* find_or_create(const std::string& id, std::string_view api_version, fake_clock::time_point now);
  fake_response create_run(const std::string& body, const run_kind_info& info, fake_clock::time_point now);
  std::string iso_time(fake_clock::time_point t) const;

  fake_extend_options options_;
  fake_clock::time_point start_;
  std::chrono::system_clock::time_point start_wall_;
  std::map<std::string, run_entry> runs_;
  std::deque<fault> faults_;
  std::deque<fake_clock::time_point> window_;  // request times within the last second
  fake_extend_stats stats_;
  std::uint64_t next_request_id_ = 1;
  std::uint64_t next_created_run_ = 1;
};

// The timeline auto mode gives an ID (extend-api.md kinds; see fake_extend_options::auto_runs);
// nullopt for IDs containing "missing".
std::optional<std::vector<timeline_step>> auto_timeline(std::string_view id, std::string_view kind,
                                                        std::chrono::milliseconds finish_after);

// Parses a fault kind as the control API spells it ("500", "cut", "slow", ...).
std::optional<fault_kind> parse_fault_kind(std::string_view text);

}  // namespace hookless
