// Black box: hooklessd reaches Extend through the HTTPS_PROXY of its environment (Debian's
// tinyproxy here, tunnelling with CONNECT), and goes direct for hosts NO_PROXY names.
#include "tests/blackbox/blackbox_fixture.hpp"

#include <thread>

namespace hookless::blackbox {
namespace {

class proxy_test : public blackbox_test {
 protected:
  void SetUp() override {
    if (!tinyproxy_process::installed()) GTEST_SKIP() << "tinyproxy is not installed (apt-get install tinyproxy-bin)";
    start_fake();
    proxy_.emplace(dir_.path(), fake_->port());
  }
  void TearDown() override {
    blackbox_test::TearDown();
    proxy_.reset();
  }

  // What tinyproxy logged about CONNECT requests to the fake.
  std::string connect_line() const {
    const auto log = proxy_->log();
    const auto at = log.find("CONNECT 127.0.0.1:" + std::to_string(fake_->port()));
    if (at == std::string::npos) return {};
    return log.substr(at, log.find('\n', at) - at);
  }

  std::optional<tinyproxy_process> proxy_;
};

TEST_F(proxy_test, https_proxy_from_the_environment_is_used) {
  auto& daemon = make_daemon(base_config());
  ASSERT_TRUE(daemon.start({{"HTTPS_PROXY", proxy_->url()}}));
  fake_->add_run({.id = "exr_proxied", .kind = "", .timeline = {{"PENDING", 0ms}, {"PROCESSED", 300ms}}, .fields = {}});
  ASSERT_EQ(daemon.watch({"exr_proxied"}).status, 201u);

  ASSERT_TRUE(wait_for_file_events(1, 10s)) << "tinyproxy log:\n" << proxy_->log();
  const auto events = events_of(file_events(), "exr_proxied");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(string_field(events[0], "eventType"), "extract_run.processed");
  EXPECT_FALSE(connect_line().empty()) << "the connection went through the proxy; its log:\n" << proxy_->log();
  EXPECT_NE(proxy_->log().find("Request (file descriptor"), std::string::npos) << proxy_->log();
  EXPECT_NE(daemon.log().find("through proxy"), std::string::npos) << "hooklessd says it uses the proxy";
}

TEST_F(proxy_test, no_proxy_for_the_host_bypasses_the_proxy) {
  auto& daemon = make_daemon(base_config());
  ASSERT_TRUE(daemon.start({{"HTTPS_PROXY", proxy_->url()}, {"NO_PROXY", "127.0.0.1"}}));
  fake_->add_run({.id = "exr_direct", .kind = "", .timeline = {{"PENDING", 0ms}, {"PROCESSED", 300ms}}, .fields = {}});
  ASSERT_EQ(daemon.watch({"exr_direct"}).status, 201u);

  ASSERT_TRUE(wait_for_file_events(1, 10s));
  EXPECT_EQ(events_of(file_events(), "exr_direct").size(), 1u);
  EXPECT_GE(fake_->stats().requests_per_run["exr_direct"], 1u);
  EXPECT_TRUE(connect_line().empty()) << "the proxy saw a CONNECT:\n" << proxy_->log();
  // tinyproxy logs every request it reads as "Request (file descriptor N): ..."; the only
  // connection it saw is the test's own readiness probe, which sends nothing.
  EXPECT_EQ(proxy_->log().find("Request (file descriptor"), std::string::npos) << proxy_->log();
}

// A proxy URL hooklessd cannot use stops its start, and what it says (on stderr, to the journal)
// names the variable but never the password in the URL.
using proxy_url_test = blackbox_test;

TEST_F(proxy_url_test, an_unusable_https_proxy_stops_the_start_without_showing_its_password) {
  start_fake();
  const auto config = dir_ / "hookless.yaml";
  write_text_file(config, render_config(base_config()));
  const auto result = run_program(
      hooklessd_program(), {"--config", config.string()},
      {{"EXTEND_API_KEY", "sk_test_hookless"}, {"HTTPS_PROXY", "socks5://proxyuser:s3cret@127.0.0.1:1080"}});
  EXPECT_NE(result.exit_code, 0);
  const auto said = result.out + result.err;
  EXPECT_NE(said.find("HTTPS_PROXY: proxy URL \"socks5://***@127.0.0.1:1080\""), std::string::npos) << said;
  EXPECT_EQ(said.find("s3cret"), std::string::npos) << said;
  EXPECT_EQ(said.find("proxyuser"), std::string::npos) << said;
}

}  // namespace
}  // namespace hookless::blackbox
