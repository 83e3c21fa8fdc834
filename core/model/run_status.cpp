// Status rules and Extend's webhook event names.
#include "core/model/run_status.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace hookless {
namespace {

// A status as it appears in an event name: lower case, anything odd as '_' (statuses never seen
// before must still make a well-formed event type).
std::string event_suffix(std::string_view status) {
  std::string suffix;
  suffix.reserve(status.size());
  for (const char c : status) {
    const auto byte = static_cast<unsigned char>(c);
    suffix.push_back(std::isalnum(byte) != 0 ? static_cast<char>(std::tolower(byte)) : '_');
  }
  return suffix;
}

}  // namespace

bool is_in_progress(std::string_view status) {
  return status == "PENDING" || status == "PROCESSING" || status == "CANCELLING";
}

status_verdict judge_status(const run_kind_info& kind, std::string_view run_id, std::string_view status,
                            bool follow_review) {
  if (is_in_progress(status)) return {};
  const bool workflow = kind.kind == "workflow_run";
  const std::string outcome = event_suffix(status);
  const std::string suffix = workflow && status == "PROCESSED" ? "completed" : outcome;
  const bool awaiting_review = workflow && status == "NEEDS_REVIEW";
  return status_verdict{
      .event_type = event_prefix_for(kind, run_id) + "." + suffix,
      .outcome = outcome,
      .finished = !(awaiting_review && follow_review),
  };
}

std::vector<std::string> known_event_types() {
  // The statuses that end a run (extend-api's table); workflows add review and rejection.
  constexpr std::array<std::string_view, 3> final_statuses{"PROCESSED", "FAILED", "CANCELLED"};
  // (REVIEWED is in the 2024-12-23 workflow object.)
  constexpr std::array<std::string_view, 3> workflow_statuses{"NEEDS_REVIEW", "REJECTED", "REVIEWED"};
  std::vector<std::string> out{std::string{expired_event}, std::string{not_found_event}};
  const auto add = [&](const run_kind_info& kind, std::string_view run_id, std::string_view status) {
    if (auto type = judge_status(kind, run_id, status, false).event_type) out.push_back(std::move(*type));
  };
  for (const auto generation : {api_generation::current, api_generation::legacy}) {
    for (const auto& kind : kinds_of(generation)) {
      // A parse batch's ID makes batch_parse_run events (event_prefix_for); any other ID the kind's own.
      for (const std::string_view run_id : {std::string_view{"run"}, std::string_view{"bpar_run"}}) {
        for (const auto status : final_statuses) add(kind, run_id, status);
        if (kind.kind == "workflow_run") {
          for (const auto status : workflow_statuses) add(kind, run_id, status);
        }
      }
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool is_success_event(std::string_view event_type) {
  return event_type.ends_with(".processed") || event_type == "workflow_run.completed";
}

}  // namespace hookless
