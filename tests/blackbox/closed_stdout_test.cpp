// Black box: hooklessd whose stdout (the stdout sink) is a pipe nobody reads any more, as with
// `hooklessd | jq` after jq exited. The write fails with EPIPE instead of killing the daemon with
// SIGPIPE; the delivery stays pending and is retried, and health names the failing sink.
#include "tests/blackbox/blackbox_fixture.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hookless::blackbox {
namespace {

namespace json = boost::json;

class closed_stdout_test : public blackbox_test {};

TEST_F(closed_stdout_test, write_to_a_closed_pipe_is_a_failed_delivery_not_a_crash) {
  start_fake();
  auto& daemon = make_daemon(base_config());
  // The daemon's stdout is opened at this path: make it a FIFO with a reader for the start, then
  // close the reader, so the pipe has no read end left when the event is written.
  ASSERT_EQ(::mkfifo(daemon.stdout_path().c_str(), 0600), 0) << std::strerror(errno);
  const int reader = ::open(daemon.stdout_path().c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(reader, 0) << std::strerror(errno);
  const bool started = daemon.start();
  ::close(reader);
  ASSERT_TRUE(started);

  const std::string id = "exr_closed_stdout";
  fake_->add_run({.id = id, .kind = "", .timeline = {{"PROCESSED", 0ms}}, .fields = {}});
  ASSERT_EQ(daemon.watch({id}).status, 201u);
  // The file sink takes the event; the stdout sink fails and retries (first retry after 1 s).
  ASSERT_TRUE(wait_for_file_events(1, 10s));
  const auto stdout_attempts = [&]() -> std::int64_t {
    const auto pending = daemon.request("GET", "/v1/deliveries?state=pending").json();
    for (const auto& item : pending.at("deliveries").as_array()) {
      const auto& delivery = item.as_object();
      if (string_field(delivery, "sink") == "out" && string_field(delivery, "run_id") == id) {
        return delivery.at("attempts").as_int64();
      }
    }
    return 0;
  };
  ASSERT_TRUE(wait_until([&] { return !daemon.running() || stdout_attempts() >= 2; }, 10s));
  ASSERT_TRUE(daemon.running()) << "hooklessd died writing to a closed stdout";

  const auto health = daemon.health();
  EXPECT_EQ(string_field(health, "status"), "degraded");
  const auto& out = object_field(object_field(health, "sinks"), "out");
  EXPECT_EQ(string_field(out, "state"), "retrying");
  EXPECT_EQ(out.at("backlog").as_int64(), 1);
  EXPECT_NE(string_field(out, "last_error").find("Broken pipe"), std::string::npos) << json::serialize(out);
  EXPECT_EQ(string_field(object_field(object_field(health, "sinks"), "archive"), "state"), "ok");
  EXPECT_EQ(daemon.terminate(), 0);
}

}  // namespace
}  // namespace hookless::blackbox
