// TLS failures against the built hooklessd (issue 7): it is pointed at TLS servers on 127.0.0.1
// with an expired certificate, a certificate for another host, a certificate from an unknown CA,
// a server that speaks only TLS 1.0, and one that never finishes the handshake. Each must fail
// closed: health shows api.state "unreachable" with a last_error that says why, no request
// reaches the server, nothing is delivered, and no config key turns verification off.
#include "tests/blackbox/blackbox_fixture.hpp"
#include "tests/support/test_certs.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <regex>
#include <thread>

namespace hookless::blackbox {
namespace {

enum class server_mode { tls, tls10_only, silent };

// A one-thread server on 127.0.0.1: TLS with the given certificate (answering any request that
// gets through with a finished run, so a client that did not verify would deliver an event), or
// a TCP server that accepts and never says a word.
class bad_tls_server {
 public:
  bad_tls_server(server_mode mode, const test_certs& certs) : mode_(mode) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(listener_, 64) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("bad_tls_server: cannot listen on 127.0.0.1");
    }
    port_ = ntohs(address.sin_port);
    if (mode != server_mode::silent) context_ = make_context(certs);
    thread_ = std::thread([this] { serve(); });
  }
  ~bad_tls_server() {
    stopping_ = true;
    thread_.join();
    for (const int fd : held_) ::close(fd);
    ::close(listener_);
    if (context_ != nullptr) SSL_CTX_free(context_);
  }
  bad_tls_server(const bad_tls_server&) = delete;
  bad_tls_server& operator=(const bad_tls_server&) = delete;

  std::string base_url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_; }
  int handshakes_done() const { return handshakes_; }
  int requests_answered() const { return requests_; }

 private:
  SSL_CTX* make_context(const test_certs& certs) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (mode_ == server_mode::tls10_only) {
      // OpenSSL 3 allows TLS 1.0 only at security level 0.
      SSL_CTX_set_security_level(ctx, 0);
      SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
      SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
      SSL_CTX_set_max_proto_version(ctx, TLS1_VERSION);
    }
    BIO* cert_bio = BIO_new_mem_buf(certs.cert_pem.data(), static_cast<int>(certs.cert_pem.size()));
    X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
    BIO* key_bio = BIO_new_mem_buf(certs.key_pem.data(), static_cast<int>(certs.key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
    const bool ok = cert != nullptr && key != nullptr && SSL_CTX_use_certificate(ctx, cert) == 1 &&
                    SSL_CTX_use_PrivateKey(ctx, key) == 1;
    X509_free(cert);
    EVP_PKEY_free(key);
    BIO_free(cert_bio);
    BIO_free(key_bio);
    if (!ok) throw std::runtime_error("bad_tls_server: cannot load the certificate");
    return ctx;
  }

  void serve() {
    while (!stopping_) {
      pollfd waiting{listener_, POLLIN, 0};
      if (::poll(&waiting, 1, 50) <= 0) continue;
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++connections_;
      if (mode_ == server_mode::silent) {
        held_.push_back(fd);  // read nothing, answer nothing, close only at the end
        continue;
      }
      timeval timeout{2, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
      SSL* ssl = SSL_new(context_);
      SSL_set_fd(ssl, fd);
      if (SSL_accept(ssl) == 1) {
        ++handshakes_;
        char buffer[8192];
        if (SSL_read(ssl, buffer, sizeof buffer) > 0) {
          const std::string body = R"({"object":"extract_run","id":"exr_tls","status":"PROCESSED","output":{}})";
          const std::string answer =
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
              "\r\nConnection: close\r\n\r\n" + body;
          SSL_write(ssl, answer.data(), static_cast<int>(answer.size()));
          ++requests_;
        }
        SSL_shutdown(ssl);
      }
      SSL_free(ssl);
      ::close(fd);
    }
  }

  server_mode mode_;
  int listener_ = -1;
  unsigned short port_ = 0;
  SSL_CTX* context_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> handshakes_{0};
  std::atomic<int> requests_{0};
  std::vector<int> held_;
};

class tls_failures_test : public blackbox_test {
 protected:
  // Starts hooklessd against `server` trusting `trusted_ca`, registers a run, and checks that it
  // fails closed with a last_error matching `why`.
  void expect_fails_closed(const bad_tls_server& server, const std::string& trusted_ca, const std::string& why) {
    start_fake();  // only for the fixture's paths; hooklessd never talks to it here
    write_text_file(dir_ / "trusted.pem", trusted_ca);
    auto settings = base_config();
    settings.base_url = server.base_url();
    settings.ca_file = dir_ / "trusted.pem";
    settings.timeout = "2s";
    auto& daemon = make_daemon(settings);
    ASSERT_TRUE(daemon.start()) << daemon.log();
    const auto registered = daemon.watch({"exr_tls"});
    ASSERT_EQ(registered.status, 201u) << registered.body;

    boost::json::object health;
    const bool unreachable = wait_until(
        [&] {
          health = daemon.health();
          return health.at("api").at("state").as_string() == "unreachable" &&
                 health.at("api").at("last_error").is_string();
        },
        20s, 100ms);
    ASSERT_TRUE(unreachable) << boost::json::serialize(health);
    const std::string last_error{health.at("api").at("last_error").as_string()};
    std::cout << "last_error: " << last_error << "\n";
    EXPECT_TRUE(std::regex_search(last_error, std::regex{why, std::regex::icase}))
        << "last_error \"" << last_error << "\" does not say why (expected /" << why << "/)";
    EXPECT_EQ(string_field(health, "status"), "degraded");

    // Give it a few more polls: still nothing may get through.
    std::this_thread::sleep_for(1500ms);
    EXPECT_GE(server.connections(), 1);
    EXPECT_EQ(server.requests_answered(), 0) << "a request was sent over a connection that should have been refused";
    const auto run = daemon.run("exr_tls");
    ASSERT_TRUE(run);
    EXPECT_EQ(string_field(*run, "state"), "pending") << boost::json::serialize(*run);
    EXPECT_EQ(file_event_count(), 0u);
    EXPECT_TRUE(stdout_events().events.empty());
  }
};

TEST_F(tls_failures_test, expired_certificate) {
  const auto certs = make_test_certs({"localhost"}, {"127.0.0.1"}, -std::chrono::hours{48}, -std::chrono::hours{24});
  bad_tls_server server{server_mode::tls, certs};
  expect_fails_closed(server, certs.ca_pem, "expired");
}

TEST_F(tls_failures_test, certificate_for_another_host) {
  const auto certs = make_test_certs({"api.example.com"}, {"10.9.8.7"});
  bad_tls_server server{server_mode::tls, certs};
  expect_fails_closed(server, certs.ca_pem, "mismatch");
}

TEST_F(tls_failures_test, certificate_from_an_unknown_ca) {
  const auto certs = make_test_certs({"localhost"}, {"127.0.0.1"});
  const auto other = make_test_certs({"localhost"}, {"127.0.0.1"});
  bad_tls_server server{server_mode::tls, certs};
  expect_fails_closed(server, other.ca_pem, "issuer|self.signed|unable to get");
}

TEST_F(tls_failures_test, server_that_only_speaks_tls_1_0) {
  const auto certs = make_test_certs({"localhost"}, {"127.0.0.1"});
  bad_tls_server server{server_mode::tls10_only, certs};
  expect_fails_closed(server, certs.ca_pem, "protocol|version");
}

TEST_F(tls_failures_test, server_that_never_finishes_the_handshake) {
  const auto certs = make_test_certs({"localhost"}, {"127.0.0.1"});
  bad_tls_server server{server_mode::silent, certs};
  expect_fails_closed(server, certs.ca_pem, "time");
}

TEST_F(tls_failures_test, no_config_key_turns_verification_off) {
  start_fake();
  auto settings = base_config();
  const auto base = render_config(settings);
  for (const char* extra : {"  verify_tls: false\n", "  insecure: true\n", "  tls_verify: false\n",
                            "  insecure_skip_verify: true\n", "  verify: false\n"}) {
    std::string text = base;
    text.insert(text.find("  api_version:"), extra);
    write_text_file(dir_ / "insecure.yaml", text);
    const auto result =
        run_program(hooklessd_program(), {"--config", (dir_ / "insecure.yaml").string(), "--check-config"});
    EXPECT_EQ(result.exit_code, 1) << extra << result.out << result.err;
  }
}

}  // namespace
}  // namespace hookless::blackbox
