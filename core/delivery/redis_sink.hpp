// The redis sink: appends each event to a Redis stream with
//   XADD <stream> [MAXLEN ~ <maxlen>] * eventId <id> eventType <type> runId <run> event <envelope>
// over a kept-alive connection (TCP, TLS verified, or a Unix socket), AUTH and SELECT on every new
// connection. The entry ID in the reply is delivered; an error reply, a lost connection or the
// timeout is a failed attempt, retried by the delivery queue. RESP is spoken by formats/resp over
// the connections net/http_connection opens (see core/delivery/README.md for why not hiredis).
#pragma once

#include "core/delivery/delivery_queue.hpp"
#include "core/delivery/sink.hpp"
#include "core/formats/redis_url.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace hookless {

struct redis_sink_options {
  redis_target target;
  std::string password;  // empty: no AUTH
  std::string stream = "hookless:events";
  std::optional<std::uint64_t> maxlen;        // MAXLEN ~ this; none: the stream is never trimmed
  std::chrono::milliseconds timeout{30'000};  // connect, TLS, AUTH, SELECT and XADD together
  delivery_limits limits{.max_in_flight = 4, .max_age = std::chrono::milliseconds{3LL * 24 * 3600 * 1000}};
};

// `tls` verifies a rediss:// server (in hooklessd: the system store, extend.ca_file and the sink's
// own ca_file); it may be null otherwise. Up to limits.max_in_flight connections are kept alive; one
// the server closed while idle (a Redis restart) is retried once on a new connection.
std::unique_ptr<sink> make_redis_sink(boost::asio::any_io_executor executor,
                                      std::shared_ptr<boost::asio::ssl::context> tls, redis_sink_options options);

// The XADD command for one event, as RESP bytes. Exposed for tests.
std::string redis_xadd_command(const redis_sink_options& options, const delivery_job& job);

}  // namespace hookless
