// hookless-fake-extend: the fake Extend API as a program, for the README demo and black-box tests.
// Serves HTTPS on 127.0.0.1 until SIGINT or SIGTERM; see fake_extend.hpp for what it answers.
#include "tests/support/fake_extend.hpp"

#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <filesystem>

namespace {

// Written beside the target, then renamed, so a reader polling for the file never sees half of it.
void publish(const std::filesystem::path& path, const std::string& text) {
  auto temporary = path;
  temporary += ".tmp";
  hookless::write_text_file(temporary, text);
  std::filesystem::rename(temporary, path);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hookless-fake-extend: a fake Extend API over HTTPS on 127.0.0.1, for tests and demos"};
  hookless::fake_extend_options options;
  options.auto_runs = true;
  options.log_requests = true;
  int port = 0;
  std::optional<double> rate_limit;
  std::string retry_after = "1";
  bool no_auto = false;
  long long auto_finish_ms = 3000;
  std::optional<int> control_port;
  std::string ca_out;
  std::string ready_file;
  std::string control_ready_file;
  bool quiet = false;

  app.add_option("--port", port, "HTTPS port on 127.0.0.1 (0 picks a free one)")->check(CLI::Range(0, 65535));
  app.add_option("--api-key", options.api_key, "the API key accepted as Bearer token")->capture_default_str();
  app.add_option("--rate-limit", rate_limit, "requests per second over a sliding 1 s window; 429 beyond")
      ->check(CLI::PositiveNumber);
  app.add_option("--retry-after", retry_after, "Retry-After of the rate limit's 429s: SECONDS, 'date' or 'none'")
      ->capture_default_str();
  app.add_flag("--no-auto", no_auto, "do not create runs for unknown IDs with a known prefix");
  app.add_option("--auto-finish-after-ms", auto_finish_ms, "when auto runs reach their final status")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--control-port", control_port, "plain-HTTP /_fake/ control API on 127.0.0.1 (0 = any port)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--ca-out", ca_out, "write the CA certificate (PEM) the daemon must trust here");
  app.add_option("--ready-file", ready_file, "write \"https://127.0.0.1:PORT\\n\" here once listening");
  app.add_option("--control-ready-file", control_ready_file,
                 "write \"http://127.0.0.1:PORT\\n\" of the control API here");
  app.add_flag("--quiet", quiet, "do not log each request on stderr");
  CLI11_PARSE(app, argc, argv);

  options.port = static_cast<std::uint16_t>(port);
  options.rate_limit = rate_limit;
  options.auto_runs = !no_auto;
  options.auto_finish_after = std::chrono::milliseconds{auto_finish_ms};
  options.log_requests = !quiet;
  if (control_port) options.control_port = static_cast<std::uint16_t>(*control_port);
  if (retry_after == "none") {
    options.retry_after.kind = hookless::retry_after_mode::form::none;
  } else if (retry_after == "date") {
    options.retry_after.kind = hookless::retry_after_mode::form::http_date;
  } else {
    try {
      options.retry_after.value = std::chrono::seconds{std::stoll(retry_after)};
    } catch (const std::exception&) {
      std::fprintf(stderr, "hookless-fake-extend: --retry-after wants SECONDS, 'date' or 'none', not '%s'\n",
                   retry_after.c_str());
      return 2;
    }
  }

  // Block the stop signals before the server thread exists, so only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  try {
    hookless::fake_extend fake{options};
    fake.start();
    if (!ca_out.empty()) fake.write_ca(ca_out);
    if (!control_ready_file.empty() && fake.control_port()) {
      publish(control_ready_file, "http://127.0.0.1:" + std::to_string(*fake.control_port()) + "\n");
    }
    if (!ready_file.empty()) publish(ready_file, fake.base_url() + "\n");
    std::printf("%s\n", fake.base_url().c_str());
    if (fake.control_port()) std::printf("control http://127.0.0.1:%u\n", unsigned{*fake.control_port()});
    std::fflush(stdout);

    int received = 0;
    sigwait(&stop_signals, &received);
    std::fprintf(stderr, "hookless-fake-extend: signal %d, stopping\n", received);
    fake.stop();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hookless-fake-extend: %s\n", e.what());
    return 1;
  }
  return 0;
}
