// The pending runs that wait for their next poll, earliest first. A binary min-heap in which each
// item is at most once and knows its place in it (its `due_slot`), so moving an item to another
// time or taking it out costs O(log n) where it stands. Nothing stale piles up behind: an item
// taken out (a finished run) is no longer referenced, and its memory goes with its last owner.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

namespace hookless {

// Item has a member `std::uint32_t due_slot = due_slot_none;` that only the queue writes.
inline constexpr std::uint32_t due_slot_none = std::numeric_limits<std::uint32_t>::max();

template <typename Item, typename Time>
class due_queue {
 public:
  using item_ptr = std::shared_ptr<Item>;

  bool empty() const { return heap_.empty(); }
  std::size_t size() const { return heap_.size(); }
  bool contains(const Item& item) const { return item.due_slot != due_slot_none; }
  // The earliest time and its item; the queue must not be empty.
  Time next_at() const { return heap_.front().at; }
  const item_ptr& next() const { return heap_.front().item; }

  // Puts the item in at `at`, or moves it there if it is in already.
  void schedule(const item_ptr& item, Time at) {
    if (contains(*item)) {
      auto& entry = heap_[item->due_slot];
      const bool sooner = at < entry.at;
      entry.at = at;
      if (sooner) {
        sift_up(item->due_slot);
      } else {
        sift_down(item->due_slot);
      }
      return;
    }
    heap_.push_back(entry_type{at, item});
    item->due_slot = static_cast<std::uint32_t>(heap_.size() - 1);
    sift_up(item->due_slot);
  }

  // Takes the item out; nothing when it is not in.
  void remove(Item& item) {
    if (!contains(item)) return;
    const std::size_t slot = item.due_slot;
    item.due_slot = due_slot_none;
    const std::size_t last = heap_.size() - 1;
    if (slot == last) {
      heap_.pop_back();
      return;
    }
    // The last entry fills the hole; it may belong above or below it.
    Item* moved = heap_[last].item.get();
    place(slot, std::move(heap_[last]));
    heap_.pop_back();
    sift_up(slot);
    sift_down(moved->due_slot);
  }

  // Takes the earliest item out and returns it; the queue must not be empty.
  item_ptr pop() {
    auto item = heap_.front().item;
    remove(*item);
    return item;
  }

 private:
  struct entry_type {
    Time at;
    item_ptr item;
  };

  void place(std::size_t slot, entry_type entry) {
    heap_[slot] = std::move(entry);
    heap_[slot].item->due_slot = static_cast<std::uint32_t>(slot);
  }

  void sift_up(std::size_t slot) {
    while (slot > 0) {
      const std::size_t parent = (slot - 1) / 2;
      if (!(heap_[slot].at < heap_[parent].at)) return;
      swap_slots(slot, parent);
      slot = parent;
    }
  }

  void sift_down(std::size_t slot) {
    for (;;) {
      const std::size_t left = 2 * slot + 1;
      if (left >= heap_.size()) return;
      const std::size_t right = left + 1;
      const std::size_t child = right < heap_.size() && heap_[right].at < heap_[left].at ? right : left;
      if (!(heap_[child].at < heap_[slot].at)) return;
      swap_slots(slot, child);
      slot = child;
    }
  }

  void swap_slots(std::size_t a, std::size_t b) {
    std::swap(heap_[a], heap_[b]);
    heap_[a].item->due_slot = static_cast<std::uint32_t>(a);
    heap_[b].item->due_slot = static_cast<std::uint32_t>(b);
  }

  std::vector<entry_type> heap_;
};

}  // namespace hookless
