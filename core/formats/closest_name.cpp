// "Did you mean": the optimal string alignment distance (Damerau-Levenshtein without repeated
// edits of one substring), which counts a swapped pair of letters as one typo.
#include "core/formats/closest_name.hpp"

#include <algorithm>
#include <vector>

namespace hookless {
namespace {

char fold_name_case(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

std::size_t name_distance(std::string_view a, std::string_view b) {
  // Three rows of the table: i-2, i-1 and i.
  const std::size_t width = b.size() + 1;
  std::vector<std::size_t> before_last(width);
  std::vector<std::size_t> last(width);
  std::vector<std::size_t> row(width);
  for (std::size_t j = 0; j < width; ++j) last[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    row[0] = i;
    for (std::size_t j = 1; j < width; ++j) {
      const bool same = fold_name_case(a[i - 1]) == fold_name_case(b[j - 1]);
      row[j] = std::min({last[j] + 1, row[j - 1] + 1, last[j - 1] + (same ? 0 : 1)});
      if (i > 1 && j > 1 && fold_name_case(a[i - 1]) == fold_name_case(b[j - 2]) &&
          fold_name_case(a[i - 2]) == fold_name_case(b[j - 1])) {
        row[j] = std::min(row[j], before_last[j - 2] + 1);
      }
    }
    std::swap(before_last, last);
    std::swap(last, row);
  }
  return last[b.size()];
}

std::optional<std::string_view> closest_name(std::string_view written, std::span<const std::string_view> known) {
  if (std::find(known.begin(), known.end(), written) != known.end()) return std::nullopt;
  const std::size_t allowed = written.size() <= 4 ? 1 : written.size() <= 9 ? 2 : 3;
  std::optional<std::string_view> best;
  std::size_t best_distance = allowed + 1;
  for (const auto name : known) {
    const auto distance = name_distance(written, name);
    if (distance < best_distance) {
      best = name;
      best_distance = distance;
    }
  }
  return best;
}

}  // namespace hookless
