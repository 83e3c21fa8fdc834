// libFuzzer target: the config loader on arbitrary YAML text. Any input must end in either a
// config or a list of problems (never both, never neither), each printable as one line.
#include "config/config_loader.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text{reinterpret_cast<const char*>(data), size};
  const auto result = hookless::load_config_text(text, "fuzz.yaml");
  if (result.value.has_value() == !result.problems.empty()) {
    std::fprintf(stderr, "fuzz_config: a config and problems must not come together, nor neither\n");
    std::abort();
  }
  for (const auto& problem : result.problems) {
    if (problem.message.empty() || problem.line < 0) {
      std::fprintf(stderr, "fuzz_config: a problem without a message or with line %d\n", problem.line);
      std::abort();
    }
    (void)hookless::format_problem("fuzz.yaml", problem);
  }
  return 0;
}
