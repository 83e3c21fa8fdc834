// The live event stream's buffers and fan-out.
#include "core/tracking/live_events.hpp"

#include <algorithm>

namespace hookless {

bool live_event_buffer::push(std::string id, std::string line) {
  if (too_slow_) return false;
  // An empty buffer takes any one event; otherwise both bounds hold.
  const bool fits =
      entries_.empty() || (entries_.size() < bounds_.max_events && bytes_ + line.size() <= bounds_.max_bytes);
  if (!fits) {
    too_slow_ = true;
    std::vector<entry>{}.swap(entries_);  // give the memory back now, not when the writer ends
    bytes_ = 0;
    return false;
  }
  bytes_ += line.size();
  entries_.push_back(entry{std::move(id), std::move(line)});
  return true;
}

void live_event_buffer::erase(const std::unordered_set<std::string>& ids) {
  std::erase_if(entries_, [&](const entry& queued) {
    if (!ids.contains(queued.id)) return false;
    bytes_ -= queued.line.size();
    return true;
  });
}

std::vector<std::string> live_event_buffer::take() {
  std::vector<std::string> lines;
  lines.reserve(entries_.size());
  for (auto& queued : entries_) lines.push_back(std::move(queued.line));
  entries_.clear();
  bytes_ = 0;
  return lines;
}

void live_event_follower::skip(const std::vector<std::string>& event_ids) {
  skipped_.insert(event_ids.begin(), event_ids.end());
  buffer_.erase(skipped_);
}

bool live_event_follower::wants(const live_event& event) const {
  if (owner_ && event.owner_uid != *owner_) return false;
  if (run_id_ && event.run_id != *run_id_) return false;
  return !skipped_.contains(event.event_id);
}

void live_event_follower::offer(const live_event& event) {
  if (buffer_.too_slow() || !wants(event)) return;
  buffer_.push(event.event_id, event.body);
  if (wake_) wake_();
}

std::shared_ptr<live_event_follower> live_events::follow(std::optional<std::uint32_t> owner,
                                                         std::optional<std::string> run_id) {
  auto follower = std::make_shared<live_event_follower>(owner, std::move(run_id), bounds_);
  std::erase_if(followers_, [](const auto& weak) { return weak.expired(); });
  followers_.push_back(follower);
  return follower;
}

void live_events::publish(const live_event& event) {
  bool any_gone = false;
  // Copied first: a wake may end a follower (and its writer) while we walk the list.
  const auto current = followers_;
  for (const auto& weak : current) {
    if (auto follower = weak.lock()) {
      follower->offer(event);
    } else {
      any_gone = true;
    }
  }
  if (any_gone) std::erase_if(followers_, [](const auto& weak) { return weak.expired(); });
}

std::size_t live_events::followers() {
  std::erase_if(followers_, [](const auto& weak) { return weak.expired(); });
  return followers_.size();
}

}  // namespace hookless
