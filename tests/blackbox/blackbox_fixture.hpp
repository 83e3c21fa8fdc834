// The GoogleTest fixture every black-box test shares: a temp dir, the fake Extend API on
// 127.0.0.1 (port 0) with its CA in the temp dir, and hooklessd configured against it. On failure
// it prints the daemon's log, which is usually the fastest way to see what went wrong.
#pragma once

#include "core/model/event_envelope.hpp"
#include "tests/blackbox/blackbox_support.hpp"

#include <gtest/gtest.h>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include <iostream>
#include <memory>

namespace hookless::blackbox {

class blackbox_test : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure() && daemon_) {
      const auto log = daemon_->log();
      const std::size_t keep = 12'000;
      std::cerr << "---- hooklessd log (last " << keep << " bytes) ----\n"
                << (log.size() > keep ? log.substr(log.size() - keep) : log) << "\n---- end of log ----\n";
    }
    daemon_.reset();  // the daemon before the fake it talks to
    fake_.reset();
  }

  fake_extend& start_fake(fake_extend_options options = {}) {
    fake_ = std::make_unique<fake_extend>(std::move(options));
    fake_->start();
    fake_->write_ca(dir_ / "ca.pem");
    return *fake_;
  }

  // A config against the fake with the temp dir's socket, state and file sink.
  daemon_config base_config() const {
    daemon_config c;
    c.base_url = fake_->base_url();
    c.ca_file = dir_ / "ca.pem";
    c.socket = dir_ / "hookless.sock";
    c.state = dir_ / "state.db";
    c.events_file = dir_ / "events.jsonl";
    return c;
  }

  daemon_process& make_daemon(daemon_config c) {
    daemon_ = std::make_unique<daemon_process>(dir_.path(), std::move(c));
    return *daemon_;
  }

  json_lines file_events() const { return read_json_lines(daemon_->config().events_file); }
  json_lines stdout_events() const { return read_json_lines(daemon_->stdout_path()); }
  std::size_t file_event_count() const { return file_events().events.size(); }

  // Waits until the file sink holds at least `n` events.
  bool wait_for_file_events(std::size_t n, std::chrono::milliseconds limit) const {
    return wait_until([&] { return file_event_count() >= n; }, limit);
  }

  // Every event in `lines` has the deterministic eventId of its run and type.
  static void expect_deterministic_ids(const json_lines& lines) {
    for (const auto& e : lines.events) {
      const auto run_id = string_field(e.at("payload").as_object(), "id");
      EXPECT_EQ(string_field(e, "eventId"), make_event_id(run_id, string_field(e, "eventType")))
          << boost::json::serialize(e);
    }
  }

  temp_dir dir_;
  std::unique_ptr<fake_extend> fake_;
  std::unique_ptr<daemon_process> daemon_;
};

}  // namespace hookless::blackbox
