// libFuzzer target: Extend's answers as the poller reads them (bare 2026 objects, legacy wrapped
// ones, list pages, error bodies, Retry-After values), plus the byte-exact member scanner the
// payload comes from. Checks the promises that matter: a run is reported only with a status and a
// payload that is itself the JSON of a run object; a list page only from a 2xx, with an id, a
// status and a time for every summary.
#include "core/extend/extend_answer.hpp"
#include "core/formats/json_span.hpp"
#include "core/formats/retry_after.hpp"
#include "core/model/run_kind.hpp"

#include <boost/json/parse.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace {

using namespace hookless;

[[noreturn]] void fail(const char* what, std::string_view body) {
  std::fprintf(stderr, "fuzz_extend_answer: %s (body %.*s)\n", what,
               static_cast<int>(std::min<std::size_t>(body.size(), 300)), body.data());
  std::abort();
}

constexpr std::array<unsigned, 12> statuses{200, 201, 204, 400, 401, 403, 404, 408, 429, 500, 503, 302};
// Both generations' kinds; a kind the chosen generation does not serve is skipped.
constexpr std::array<std::string_view, 8> kinds{"extract_run", "workflow_run", "processor_run", "batch_processor_run",
                                                "parser_run",  "classify_run", "batch_run",     "edit_run"};

}  // namespace

// Input layout: byte 0 picks the HTTP status, byte 1 the run kind and API generation; then an
// optional Retry-After value up to the first '\n' when byte 1's top bit is set; the rest is the body.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const unsigned status = statuses[data[0] % statuses.size()];
  const auto generation = (data[1] & 0x40) != 0 ? api_generation::legacy : api_generation::current;
  const auto info = describe_kind(kinds[(data[1] & 0x3f) % kinds.size()], generation);
  if (!info) return 0;
  std::string_view rest{reinterpret_cast<const char*>(data + 2), size - 2};
  std::optional<std::string_view> retry_after;
  if ((data[1] & 0x80) != 0) {
    const auto newline = rest.find('\n');
    retry_after = rest.substr(0, newline);
    rest = newline == std::string_view::npos ? std::string_view{} : rest.substr(newline + 1);
  }
  const auto now = std::chrono::system_clock::now();
  const auto answer = interpret_answer(status, rest, retry_after, *info, "exr_fuzz", now);

  if (answer.kind == answer_kind::run) {
    if (status < 200 || status >= 300) fail("a run from a non-2xx answer", rest);
    if (answer.status.empty()) fail("a run without a status", rest);
    boost::system::error_code ec;
    const auto payload = parse_extend_json(answer.payload, ec);
    if (ec || !payload.is_object()) fail("a run whose payload is not a JSON object", rest);
    const auto* run_status = payload.as_object().if_contains("status");
    if (run_status == nullptr || !run_status->is_string() || run_status->get_string() != answer.status) {
      fail("payload status differs from the reported status", rest);
    }
  }
  if (answer.retry_after && (answer.retry_after->count() < 0 || *answer.retry_after > std::chrono::hours{1})) {
    fail("Retry-After outside 0..1h", rest);
  }

  const auto page = interpret_list(status, rest, retry_after, *info, now);
  if (page.kind == answer_kind::run) {
    if (status < 200 || status >= 300 || page.unusable) fail("a list page from an unusable answer", rest);
    for (const auto& summary : page.runs) {
      if (summary.id.empty() || summary.status.empty()) fail("a summary without an id or a status", rest);
    }
  } else if (!page.runs.empty() || page.next_page_token) {
    fail("summaries in an answer that is not a page", rest);
  }
  if (page.unusable && page.kind != answer_kind::retryable) fail("an unusable list that pauses the budget", rest);
  if (retry_after) (void)parse_retry_after(*retry_after, now);

  // find_member_text's contract is valid JSON in; then what it finds must be one whole JSON value.
  boost::system::error_code ec;
  const auto parsed = parse_extend_json(rest, ec);
  if (!ec && parsed.is_object()) {
    (void)trim_json(rest);
    for (const auto& member : parsed.as_object()) {
      const auto text = find_member_text(rest, member.key());
      if (!text) fail("find_member_text missed a top-level key", rest);
      boost::system::error_code value_ec;
      (void)parse_extend_json(*text, value_ec);
      if (value_ec) fail("find_member_text returned text that is not one JSON value", rest);
    }
  }
  return 0;
}
