// What save_finds does to a run already stored (see store_finds.hpp).
#include "core/store/store_finds.hpp"

#include <algorithm>
#include <cstddef>
#include <map>
#include <utility>

namespace hookless::store_finds {

found_run inserted_run(const run_record& found) {
  found_run result;
  result.what = found_run::result::inserted;
  result.run = found;
  return result;
}

found_run unchanged_run(run_record stored) {
  found_run result;
  result.what = found_run::result::unchanged;
  result.run = std::move(stored);
  return result;
}

std::vector<std::string> sinks_with(const run_record& stored, const std::vector<std::string>& added) {
  auto sinks = stored.sinks;
  sinks.insert(sinks.end(), added.begin(), added.end());
  return sinks;
}

std::vector<std::string> sinks_lacking(const run_record& stored, const std::vector<std::string>& given) {
  std::vector<std::string> lacking;
  for (const auto& sink : given) {
    if (std::ranges::find(stored.sinks, sink) != stored.sinks.end()) continue;
    if (std::ranges::find(lacking, sink) != lacking.end()) continue;
    lacking.push_back(sink);
  }
  return lacking;
}

std::vector<delivery_job> jobs_for_added_sinks(const run_record& stored, const std::vector<std::string>& added,
                                               const sink_event_filters& filters) {
  std::vector<delivery_job> jobs;
  jobs.reserve(stored.events.size() * added.size());
  for (const auto& event : stored.events) {
    for (const auto& sink : added) {
      if (!sink_takes(filters, sink, event.event_type)) continue;
      delivery record;
      record.id = event.event_id + ":" + sink;
      record.event_id = event.event_id;
      record.run_id = stored.id;
      record.sink = sink;
      jobs.push_back(delivery_job{std::move(record), event.event_type, event.body, {}});
    }
  }
  return jobs;
}

found_run merged_run(run_record stored, std::vector<std::string> added, std::vector<delivery_job> made) {
  stored.sinks = sinks_with(stored, added);
  for (const auto& job : made) stored.deliveries.push_back(job.record);
  std::map<std::string, std::size_t> event_order;
  for (std::size_t at = 0; at < stored.events.size(); ++at) event_order.emplace(stored.events[at].event_id, at);
  const auto order_of = [&event_order](const delivery& record) {
    const auto found = event_order.find(record.event_id);
    return found == event_order.end() ? event_order.size() : found->second;
  };
  std::ranges::stable_sort(stored.deliveries, [&order_of](const delivery& a, const delivery& b) {
    const auto event_a = order_of(a);
    const auto event_b = order_of(b);
    return event_a != event_b ? event_a < event_b : a.sink < b.sink;
  });
  found_run result;
  result.what = found_run::result::merged;
  result.added_sinks = std::move(added);
  result.run = std::move(stored);
  result.new_jobs = std::move(made);
  return result;
}

}  // namespace hookless::store_finds
