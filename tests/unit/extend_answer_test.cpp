// Reading Extend's answers: shapes, errors, and never mistaking a broken answer for a finished run.
#include "core/extend/extend_answer.hpp"
#include "core/formats/json_span.hpp"

#include <gtest/gtest.h>

namespace hookless {
namespace {

using namespace std::chrono_literals;

const auto fixed_now = std::chrono::system_clock::from_time_t(1'790'000'000);

run_kind_info kind(std::string_view name, api_generation generation = api_generation::current) {
  return describe_kind(name, generation).value();
}

TEST(extend_answer, bare_object_passes_through_byte_for_byte) {
  const std::string body =
      R"( {"object":"extract_run","id":"exr_1","status":"PROCESSED","output":{"x":1.50,"y":1e2}} )";
  const auto answer = interpret_answer(200, body, std::nullopt, kind("extract_run"), "exr_1", fixed_now);
  ASSERT_EQ(answer.kind, answer_kind::run);
  EXPECT_EQ(answer.status, "PROCESSED");
  EXPECT_EQ(answer.payload,
            R"({"object":"extract_run","id":"exr_1","status":"PROCESSED","output":{"x":1.50,"y":1e2}})");
}

TEST(extend_answer, wrapped_object_is_unwrapped_exactly) {
  const std::string body =
      R"({"success":true,"processorRun":{"id":"dpr_1","status":"FAILED","note":"a \"}\" b","n":0.10}})";
  const auto answer = interpret_answer(200, body, std::nullopt, kind("processor_run"), "dpr_1", fixed_now);
  ASSERT_EQ(answer.kind, answer_kind::run);
  EXPECT_EQ(answer.status, "FAILED");
  EXPECT_EQ(answer.payload, R"({"id":"dpr_1","status":"FAILED","note":"a \"}\" b","n":0.10})");
}

TEST(extend_answer, either_shape_is_accepted_whatever_the_version) {
  const auto wrapped =
      interpret_answer(200, R"({"success":true,"workflowRun":{"id":"workflow_run_1","status":"PROCESSING"}})",
                       std::nullopt, kind("workflow_run"), "workflow_run_1", fixed_now);
  EXPECT_EQ(wrapped.kind, answer_kind::run);
  EXPECT_EQ(wrapped.status, "PROCESSING");
  const auto bare = interpret_answer(200, R"({"id":"workflow_run_1","status":"PENDING"})", std::nullopt,
                                     kind("workflow_run", api_generation::legacy), "workflow_run_1", fixed_now);
  EXPECT_EQ(bare.kind, answer_kind::run);
}

TEST(extend_answer, broken_answers_are_never_runs) {
  const auto extract = kind("extract_run");
  for (const char* body :
       {R"({"id":"exr_1","status":"PROCESSED")", "", "[]", R"({"id":"exr_1"})", R"({"id":"exr_1","status":""})",
        R"({"id":"exr_1","status":7})", R"({"id":"exr_2","status":"PROCESSED"})", R"({"success":true})",
        R"({"success":true,"processorRun":"x"})"}) {
    EXPECT_EQ(interpret_answer(200, body, std::nullopt, extract, "exr_1", fixed_now).kind, answer_kind::malformed)
        << body;
  }
}

TEST(extend_answer, error_statuses) {
  const auto extract = kind("extract_run");
  const auto limited = interpret_answer(429, R"({"code":"RATE_LIMIT_EXCEEDED","message":"slow down","retryable":true})",
                                        "2", extract, "exr_1", fixed_now);
  EXPECT_EQ(limited.kind, answer_kind::rate_limited);
  EXPECT_EQ(limited.retry_after, 2s);
  EXPECT_NE(limited.error.find("RATE_LIMIT_EXCEEDED"), std::string::npos);

  EXPECT_EQ(interpret_answer(401, R"({"error":{"code":"UNAUTHORIZED","message":"bad key"}})", std::nullopt, extract,
                             "exr_1", fixed_now)
                .kind,
            answer_kind::unauthorized);
  EXPECT_EQ(interpret_answer(403, "", std::nullopt, extract, "exr_1", fixed_now).kind, answer_kind::unauthorized);
  EXPECT_EQ(
      interpret_answer(404, R"({"success":false,"error":"not found"})", std::nullopt, extract, "exr_1", fixed_now).kind,
      answer_kind::not_found);
  const auto server = interpret_answer(503, "<html>oops</html>", std::nullopt, extract, "exr_1", fixed_now);
  EXPECT_EQ(server.kind, answer_kind::retryable);
  EXPECT_NE(server.error.find("503"), std::string::npos);
  EXPECT_EQ(
      interpret_answer(200, R"({"success":false,"error":"boom"})", std::nullopt, extract, "exr_1", fixed_now).kind,
      answer_kind::retryable);
}

// Run outputs nest deeper than Boost.JSON's default limit of 32; the bound is 1,024 levels.
TEST(extend_answer, deeply_nested_outputs_are_runs) {
  const auto nested = [](int depth) {
    return R"({"id":"exr_1","status":"PROCESSED","output":)" + std::string(static_cast<std::size_t>(depth), '[') +
           std::string(static_cast<std::size_t>(depth), ']') + "}";
  };
  const auto deep = interpret_answer(200, nested(500), std::nullopt, kind("extract_run"), "exr_1", fixed_now);
  ASSERT_EQ(deep.kind, answer_kind::run);
  EXPECT_EQ(deep.payload, nested(500));
  const auto wrapped = interpret_answer(200,
                                        R"({"success":true,"processorRun":{"id":"dpr_1","status":"FAILED","x":)" +
                                            std::string(200, '[') + std::string(200, ']') + "}}",
                                        std::nullopt, kind("processor_run"), "dpr_1", fixed_now);
  EXPECT_EQ(wrapped.kind, answer_kind::run);
  EXPECT_EQ(interpret_answer(200, nested(5000), std::nullopt, kind("extract_run"), "exr_1", fixed_now).kind,
            answer_kind::malformed);
}

TEST(extend_answer, list_pages_of_both_shapes) {
  const auto page = interpret_list(
      200,
      R"({"object":"list","data":[{"object":"extract_run","id":"exr_2","status":"PROCESSED","createdAt":"2026-01-01T00:00:00Z",)"
      R"("updatedAt":"2026-01-01T00:00:05.250Z"},{"id":"exr_1","status":"PENDING","updatedAt":"2026-01-01T01:00:00+01:00"}],)"
      R"("nextPageToken":"tok/=+"})",
      std::nullopt, kind("extract_run"), fixed_now);
  ASSERT_EQ(page.kind, answer_kind::run) << page.error;
  EXPECT_FALSE(page.unusable);
  ASSERT_EQ(page.runs.size(), 2U);
  EXPECT_EQ(page.runs[0].id, "exr_2");
  EXPECT_EQ(page.runs[0].status, "PROCESSED");
  const auto new_year = std::chrono::sys_days{std::chrono::year{2026} / 1 / 1};
  EXPECT_EQ(page.runs[0].updated_at, new_year + 5250ms);
  EXPECT_EQ(page.runs[1].updated_at, new_year);
  EXPECT_EQ(page.next_page_token, "tok/=+");

  const auto wrapped = interpret_list(
      200,
      R"({"success":true,"processorRuns":[{"id":"dpr_1","status":"PROCESSING","updatedAt":"2026-01-01T00:00:00Z"}],"nextPageToken":null})",
      std::nullopt, kind("processor_run"), fixed_now);
  ASSERT_EQ(wrapped.kind, answer_kind::run) << wrapped.error;
  ASSERT_EQ(wrapped.runs.size(), 1U);
  EXPECT_FALSE(wrapped.next_page_token);
  const auto legacy_workflows = interpret_list(200, R"({"success":true,"workflowRuns":[]})", std::nullopt,
                                               kind("workflow_run", api_generation::legacy), fixed_now);
  EXPECT_EQ(legacy_workflows.kind, answer_kind::run);
  EXPECT_TRUE(legacy_workflows.runs.empty());
}

// A 2xx that is not exactly a page makes the list unusable for the kind: never half-read.
TEST(extend_answer, list_pages_are_read_strictly) {
  const auto extract = kind("extract_run");
  for (const char* body : {"", "[]", R"({"object":"list"})", R"({"object":"extract_run","data":[]})", R"({"data":{}})",
                           R"({"data":[7]})", R"({"data":[{"status":"PENDING","updatedAt":"2026-01-01T00:00:00Z"}]})",
                           R"({"data":[{"id":"exr_1","status":"","updatedAt":"2026-01-01T00:00:00Z"}]})",
                           R"({"data":[{"id":"exr_1","status":"PENDING"}]})",
                           R"({"data":[{"id":"exr_1","status":"PENDING","updatedAt":"yesterday"}]})",
                           R"({"data":[{"id":"exr_1","status":"PENDING","updatedAt":"2026-01-01T00:00:00"}]})",
                           R"({"data":[],"nextPageToken":5})",
                           // oldest first: a sweep paging back to a point in time would stop before the newest changes
                           R"({"data":[{"id":"exr_1","status":"PENDING","updatedAt":"2026-01-01T00:00:00Z"},)"
                           R"({"id":"exr_2","status":"PENDING","updatedAt":"2026-01-01T00:00:00.001Z"}]})"}) {
    const auto page = interpret_list(200, body, std::nullopt, extract, fixed_now);
    EXPECT_TRUE(page.unusable) << body;
    EXPECT_NE(page.kind, answer_kind::run) << body;
  }
  EXPECT_TRUE(
      interpret_list(200, R"({"success":true,"processorRun":[]})", std::nullopt, kind("processor_run"), fixed_now)
          .unusable);
  const auto same_time =
      interpret_list(200,
                     R"({"data":[{"id":"exr_2","status":"PENDING","updatedAt":"2026-01-01T00:00:00Z"},)"
                     R"({"id":"exr_1","status":"PENDING","updatedAt":"2026-01-01T00:00:00Z"}]})",
                     std::nullopt, extract, fixed_now);
  EXPECT_EQ(same_time.kind, answer_kind::run) << "equal updatedAt is in order";
  const auto refused =
      interpret_list(200, R"({"success":false,"error":"boom"})", std::nullopt, kind("processor_run"), fixed_now);
  EXPECT_EQ(refused.kind, answer_kind::retryable);
  EXPECT_FALSE(refused.unusable);
}

TEST(extend_answer, list_errors_either_disable_the_list_or_wait) {
  const auto extract = kind("extract_run");
  for (const unsigned status : {400U, 403U, 404U, 405U, 410U, 422U}) {
    const auto answer =
        interpret_list(status, R"({"code":"INVALID_REQUEST","message":"no"})", std::nullopt, extract, fixed_now);
    EXPECT_TRUE(answer.unusable) << status;
    EXPECT_EQ(answer.kind, answer_kind::retryable) << "an unusable list never pauses the budget";
    EXPECT_NE(answer.error.find(std::to_string(status)), std::string::npos);
  }
  EXPECT_TRUE(
      interpret_list(500, R"({"error":{"code":"ENDPOINT_REMOVED","message":"gone"}})", std::nullopt, extract, fixed_now)
          .unusable);
  const auto limited = interpret_list(429, R"({"code":"RATE_LIMIT_EXCEEDED"})", "3", extract, fixed_now);
  EXPECT_FALSE(limited.unusable);
  EXPECT_EQ(limited.kind, answer_kind::rate_limited);
  EXPECT_EQ(limited.retry_after, 3s);
  EXPECT_EQ(interpret_list(401, "", std::nullopt, extract, fixed_now).kind, answer_kind::unauthorized);
  const auto down = interpret_list(503, "<html>", std::nullopt, extract, fixed_now);
  EXPECT_FALSE(down.unusable);
  EXPECT_EQ(down.kind, answer_kind::retryable);
}

TEST(json_span, finds_top_level_members_only) {
  const std::string json = R"({"a":{"b":1},"b" : [1,{"c":"]"}], "c":"x\"y","d":null})";
  EXPECT_EQ(find_member_text(json, "b"), R"([1,{"c":"]"}])");
  EXPECT_EQ(find_member_text(json, "c"), R"("x\"y")");
  EXPECT_EQ(find_member_text(json, "d"), "null");
  EXPECT_EQ(find_member_text(json, "a"), R"({"b":1})");
  EXPECT_FALSE(find_member_text(json, "z"));
  EXPECT_FALSE(find_member_text("[1]", "a"));
  EXPECT_EQ(find_member_text(R"({"\u0061":2})", "a"), "2");
}

// Found by fuzz_extend_answer: a wrapped answer naming its run member twice was judged by the last
// value (the parser's) but passed on with the first (the scanner's).
TEST(extend_answer, a_repeated_wrapper_key_is_malformed_not_a_run) {
  const auto info = describe_kind("processor_run", api_generation::legacy);
  ASSERT_TRUE(info);
  const auto answered_at = std::chrono::system_clock::now();
  const auto answer = interpret_answer(
      200, R"({"success":true,"processorRun":true,"processorRun":{"id":"dpr_1","status":"PROCESSED"}})", std::nullopt,
      *info, "dpr_1", answered_at);
  EXPECT_EQ(answer.kind, answer_kind::malformed) << answer.payload;
  const auto fine = interpret_answer(200, R"({"success":true,"processorRun":{"id":"dpr_1","status":"PROCESSED"}})",
                                     std::nullopt, *info, "dpr_1", answered_at);
  EXPECT_EQ(fine.kind, answer_kind::run);
  EXPECT_EQ(fine.payload, R"({"id":"dpr_1","status":"PROCESSED"})");
}

}  // namespace
}  // namespace hookless
