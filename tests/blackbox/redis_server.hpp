// A real Redis server for the redis sink's black-box tests: Debian's redis-server started by the
// test in a private folder, on a Unix socket there and, when asked, on 127.0.0.1 at a free port with
// a password, plain or TLS; appendonly with appendfsync always, so a SIGKILL keeps every write it acknowledged.
// Read back with redis-cli, as an operator would. Throws (the test fails, never skips) when
// redis-server or redis-cli is not installed, naming scripts/install-deps.sh.
#pragma once

#include "tests/blackbox/blackbox_support.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hookless::blackbox {

struct redis_server_options {
  bool tcp = false;      // also listen on 127.0.0.1 at a free port
  bool tls = false;      // with tcp: that port speaks TLS only, with a certificate for 127.0.0.1
  std::string password;  // requirepass, when not empty
};

// One stream entry as redis-cli XRANGE shows it.
struct redis_entry {
  std::string id;
  std::map<std::string, std::string> fields;
};

class redis_server {
 public:
  redis_server(fs::path folder, redis_server_options options);
  ~redis_server();
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  // Gone at once (SIGKILL), its data kept in the append-only file.
  void kill();
  // Back with the same config and data; returns once it answers PING (throws when it does not).
  void start();
  bool running();

  fs::path socket() const { return folder_ / "redis.sock"; }
  unsigned short port() const { return port_; }
  // With tls: the PEM of the CA that signed the server's certificate.
  fs::path ca_file() const { return folder_ / "ca.pem"; }
  std::string log() const { return read_file(folder_ / "redis.log"); }

  // redis-cli over the Unix socket (with the password when there is one) on database `db`.
  ctl_result cli(const std::vector<std::string>& args, unsigned db = 0) const;
  // XRANGE stream - +, parsed.
  std::vector<redis_entry> xrange(const std::string& stream, unsigned db = 0) const;
  // CONFIG SET requirepass: clients must AUTH with this from now on (the running server only).
  void set_password(const std::string& password);

 private:
  fs::path folder_;
  redis_server_options options_;
  unsigned short port_ = 0;
  std::unique_ptr<child_process> child_;
};

}  // namespace hookless::blackbox
