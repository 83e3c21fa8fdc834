// The sinks that write one envelope per line (JSON Lines): stdout and an append-only file.
#pragma once

#include "core/delivery/sink.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <string>

namespace hookless {

// Writes each envelope as a line on standard output (a pipe, a terminal, journald).
std::unique_ptr<sink> make_stdout_sink(boost::asio::any_io_executor blocking);

// Appends each envelope as a line to `path` and syncs it before the delivery counts as done. A
// line torn by a crash is cut off when the file is opened again (its delivery was never marked
// done, so it is written again whole). Blocking writes run on `blocking`.
std::unique_ptr<sink> make_file_sink(boost::asio::any_io_executor blocking, std::string path);

}  // namespace hookless
