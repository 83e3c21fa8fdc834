// hooklessctl's output without a daemon: health sentences, tables printed a page at a time, the
// exit code of several waits, refusals told in flags, JSON errors and the completion scripts.
#include "daemon/ctl/ctl_output.hpp"
#include "daemon/ctl/ctl_completion.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

namespace hookless {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace json = boost::json;

json::object parsed(std::string_view text) { return json::parse(text).as_object(); }

TEST(ctl_output, health_reads_as_a_sentence_per_part) {
  const auto text = describe_health(parsed(R"({"status":"degraded","pending":1,
    "api":{"state":"rate_limited","last_error":"HTTP 429"},
    "sinks":{"app":{"type":"http","state":"ok","backlog":0,"dead":0,"last_error":null},
             "hook":{"type":"http","state":"retrying","backlog":2,"dead":3,"last_error":"HTTP 503: down"},
             "out":{"type":"stdout","state":"ok","backlog":1,"dead":1,"last_error":null}},
    "store":{"state":"ok","backend":"sqlite"}})"));
  EXPECT_THAT(text, HasSubstr("hooklessd is degraded: 1 run pending\n"));
  EXPECT_THAT(text, HasSubstr("api: rate limited, Extend answered 429; last error: HTTP 429\n"));
  EXPECT_THAT(text, HasSubstr("sink app (http): healthy, 0 queued\n"));
  EXPECT_THAT(text, HasSubstr("sink hook (http): retrying, 3 dead deliveries, 2 queued; last error: HTTP 503: down"));
  EXPECT_THAT(text, HasSubstr("sink out (stdout): 1 dead delivery, 1 queued (hooklessctl deliveries --state dead"));
  EXPECT_THAT(text, HasSubstr("store (sqlite): healthy\n"));
  EXPECT_THAT(text, Not(HasSubstr("cluster")));
}

TEST(ctl_output, health_names_an_unreachable_store_and_the_cluster_role) {
  const auto text = describe_health(parsed(R"({"status":"degraded","pending":2,"api":{"state":"ok","last_error":null},
    "sinks":{},"store":{"state":"unreachable","backend":"postgresql"},
    "cluster":{"node":"web-2","role":"poller","term":4,"nodes":["web-1","web-2"],"homes":["web-2"]}})"));
  EXPECT_THAT(text, HasSubstr("hooklessd is degraded: 2 runs pending\n"));
  EXPECT_THAT(text, HasSubstr("api: healthy"));
  EXPECT_THAT(text, HasSubstr("store (postgresql): unreachable, registrations are refused until it answers\n"));
  EXPECT_THAT(text,
              HasSubstr("cluster: node web-2 is the poller (term 4); live nodes web-1, web-2; delivers for web-2"));
}

TEST(ctl_output, health_tells_each_subscription_and_kind) {
  const auto text = describe_health(parsed(R"({"status":"degraded","pending":0,"api":{"state":"ok","last_error":null},
    "sinks":{},"subscriptions":{"invoices":{
      "extract_run":{"state":"ok","position":"2026-12-06T03:00:00.000Z","position_age_seconds":4,"sweeps":12,
                     "pages":14,"runs_found":1,"events":2,"last_error":null},
      "workflow_run":{"state":"failing","position":"2026-12-06T02:59:00.000Z","position_age_seconds":70,"sweeps":3,
                      "pages":3,"runs_found":0,"events":0,"last_error":"HTTP 500 from GET /workflow_runs"}},
      "all":{"parse_run":{"state":"starting","position":null,"position_age_seconds":null,"sweeps":0,"pages":0,
                          "runs_found":0,"events":0,"last_error":null},
             "split_run":{"state":"standby","position":"2026-12-06T03:00:01.000Z","position_age_seconds":null,
                          "sweeps":0,"pages":0,"runs_found":0,"events":0,"last_error":null}}},
    "store":{"state":"ok","backend":"sqlite"}})"));
  EXPECT_THAT(text, HasSubstr("subscription invoices (extract_run): healthy, position 2026-12-06T03:00:00.000Z (swept "
                              "4 s ago); 12 sweeps, 1 run found, 2 events\n"));
  EXPECT_THAT(text, HasSubstr("subscription invoices (workflow_run): failing, the sweep is retried and nothing is "
                              "skipped; position 2026-12-06T02:59:00.000Z (swept 70 s ago); 3 sweeps, 0 runs found, 0 "
                              "events; last error: HTTP 500 from GET /workflow_runs\n"));
  EXPECT_THAT(text, HasSubstr("subscription all (parse_run): starting, no sweep has completed yet; 0 sweeps"));
  EXPECT_THAT(text, HasSubstr("subscription all (split_run): standby, another daemon sweeps it; position "
                              "2026-12-06T03:00:01.000Z; 0 sweeps"));
}

TEST(ctl_output, a_run_shows_the_subscription_that_found_it) {
  const auto found = describe_run(parsed(R"({"id":"exr_1","kind":"extract_run","subscription":"invoices"})"));
  EXPECT_THAT(found, HasSubstr("\nsubscription: invoices\n"));
  EXPECT_THAT(describe_run(parsed(R"({"id":"exr_2","kind":"extract_run"})")), Not(HasSubstr("subscription")));
}

TEST(ctl_output, a_table_streams_page_by_page_with_the_first_page_setting_widths) {
  table_stream table{{"ID", "STATE"}};
  EXPECT_EQ(table.page({{"exr_1", "pending"}}), "ID     STATE\nexr_1  pending\n");
  EXPECT_EQ(table.page({{"exr_22", "finished"}}), "exr_22  finished\n") << "a wider row widens its column";
  table_stream empty{{"ID", "STATE"}};
  EXPECT_EQ(empty.page({}), "ID  STATE\n") << "the header alone when nothing is listed";
}

TEST(ctl_output, the_worst_exit_code_wins) {
  EXPECT_EQ(worst_exit_code(0, 0), 0);
  EXPECT_EQ(worst_exit_code(0, 3), 3);
  EXPECT_EQ(worst_exit_code(3, 4), 4);
  EXPECT_EQ(worst_exit_code(4, 3), 4);
  EXPECT_EQ(worst_exit_code(4, 1), 1);
  EXPECT_EQ(worst_exit_code(1, 0), 1);
  EXPECT_EQ(worst_exit_code(0, 2), 2) << "any other code counts as an error";
}

TEST(ctl_output, a_refused_registration_names_the_id_and_the_flag) {
  const std::vector<std::string> ids{"exr_1", "bad id", "exr_2"};
  EXPECT_EQ(explain_registration_error("runs[1].id: must be 1 to 255 characters", ids),
            "ID 'bad id' refused: must be 1 to 255 characters; none of the 3 IDs sent with it was registered");
  EXPECT_EQ(explain_registration_error("kind: the kind of run 'zzz_1' cannot be told from its ID prefix; name its kind",
                                       {"zzz_1"}),
            "ID 'zzz_1' refused, --kind: the kind of run 'zzz_1' cannot be told from its ID prefix; name its kind");
  EXPECT_THAT(explain_registration_error("runs[2].sinks: unknown sink 'ap'", ids),
              HasSubstr("ID 'exr_2' refused, --sink"));
  EXPECT_EQ(explain_registration_error("runs[7].id: nope", ids), "runs[7].id: nope") << "out of range: as it came";
  EXPECT_EQ(explain_registration_error("body: must be a JSON object", ids), "body: must be a JSON object");
  EXPECT_EQ(explain_query_error("kind: 'x' is not a run kind; kinds: a, b"),
            "--kind: 'x' is not a run kind; kinds: a, b");
  EXPECT_EQ(explain_query_error("no such path: /v2"), "no such path: /v2");
}

TEST(ctl_output, the_wait_progress_line_shows_status_polls_and_time) {
  EXPECT_EQ(wait_progress_line(parsed(R"({"id":"exr_1","status":"PROCESSING","polls":3})"), std::chrono::seconds{12}),
            "exr_1: PROCESSING, 3 polls, 12 s");
  EXPECT_EQ(wait_progress_line(parsed(R"({"id":"exr_1","status":null,"polls":0})"), std::chrono::seconds{0}),
            "exr_1: not polled yet, 0 polls, 0 s");
  EXPECT_EQ(wait_progress_line(parsed(R"({"id":"exr_1","status":"PENDING","polls":1})"), std::chrono::seconds{1}),
            "exr_1: PENDING, 1 poll, 1 s");
}

TEST(ctl_output, a_refused_events_run_names_the_flag) {
  EXPECT_EQ(explain_query_error("run: must be a run ID"), "--run: must be a run ID");
}

TEST(ctl_output, errors_in_json_carry_code_and_message) {
  const auto error = parsed(error_json("not_found", "no run \"exr_1\""));
  EXPECT_EQ(error.at("error").at("code").as_string(), "not_found");
  EXPECT_EQ(error.at("error").at("message").as_string(), "no run \"exr_1\"");
}

TEST(ctl_completion, every_shell_gets_the_commands_flags_and_values) {
  for (const auto* shell : {"bash", "zsh", "fish"}) {
    const auto script = completion_script(shell);
    ASSERT_TRUE(script.has_value()) << shell;
    for (const auto* word : {"watch", "wait", "redeliver", "completion", "all-dead", "outcome", "needs_review",
                             "extract_run", "finished", "dead", "json"}) {
      EXPECT_THAT(*script, HasSubstr(word)) << shell;
    }
  }
  EXPECT_FALSE(completion_script("tcsh").has_value());
}

}  // namespace
}  // namespace hookless
