// metrics.listen: GET /metrics over plain HTTP/1.1 on a TCP address, for Prometheus, which cannot
// scrape the control socket (a Unix socket). It serves that one page, read-only, and nothing else.
#pragma once

#include "core/formats/listen_address.hpp"
#include "core/model/awaitable.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace hookless {

class metrics_listener {
 public:
  // Binds and listens on `address`; `render` writes the Prometheus text on each GET /metrics.
  // Throws std::runtime_error naming metrics.listen and the address when it cannot listen there.
  metrics_listener(boost::asio::any_io_executor executor, const listen_address& address,
                   std::function<std::string()> render);
  // Closes the listening socket and every connection.
  ~metrics_listener();
  metrics_listener(const metrics_listener&) = delete;
  metrics_listener& operator=(const metrics_listener&) = delete;

  // Starts accepting. Every task it spawns logs its own failure.
  void start();
  // Stops accepting and closes every connection (answers are short: nothing to wait for).
  void stop();
  // The port it listens on.
  std::uint16_t port() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace hookless
