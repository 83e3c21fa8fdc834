// See batched_registration.hpp.
#include "bench/batched_registration.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <stdexcept>

namespace hookless::bench {

namespace json = boost::json;
using namespace std::chrono_literals;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double register_batched(const blackbox::daemon_process& daemon, std::size_t runs,
                        const std::function<std::string(std::size_t)>& id_of) {
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t first = 0; first < runs; first += 10'000) {
    json::array batch;
    for (std::size_t i = first; i < std::min(runs, first + 10'000); ++i)
      batch.push_back(json::object{{"id", id_of(i)}});
    const auto answer = blackbox::control_request(daemon.socket(), "POST", "/v1/runs",
                                                  json::serialize(json::object{{"runs", std::move(batch)}}), 120s);
    if (answer.status != 201) throw std::runtime_error("batch registration answered " + std::to_string(answer.status));
  }
  return static_cast<double>(runs) / seconds_since(start);
}

}  // namespace hookless::bench
