// What save_finds does to a run it finds already stored, alike in both backends: the sinks the run
// lacks, the deliveries to make for them, and the record as it stands once they are saved.
#pragma once

#include "core/model/run.hpp"
#include "core/model/subscription.hpp"

#include <string>
#include <vector>

namespace hookless::store_finds {

// A run stored as found (inserted), or found stored with every sink already (unchanged).
found_run inserted_run(const run_record& found);
found_run unchanged_run(run_record stored);

// The sinks of `given` that `stored` lacks, in the order given, each once.
std::vector<std::string> sinks_lacking(const run_record& stored, const std::vector<std::string>& given);
// The sinks `stored` has once it gains `added`: its own, then those, as the sinks column is to hold.
std::vector<std::string> sinks_with(const run_record& stored, const std::vector<std::string>& added);

// A pending delivery of each of `stored`'s events to each of `added` that takes it (`filters`), with
// the event's type and body: in event order, then in the order of `added`.
std::vector<delivery_job> jobs_for_added_sinks(const run_record& stored, const std::vector<std::string>& added,
                                               const sink_event_filters& filters);

// The result for `stored` once `added` and the deliveries of `made` (those of jobs_for_added_sinks
// the store did insert) are saved: its sinks gain `added`, its deliveries `made`'s, in event order
// then by sink, as find_run lists them.
found_run merged_run(run_record stored, std::vector<std::string> added, std::vector<delivery_job> made);

}  // namespace hookless::store_finds
