// Where a request to Extend waits in each queue on its way out (a run's turn to be polled, a
// connection slot of the pool, a turn of the request budget). `ahead` requests pass every `in_line`
// one and keep their order among themselves. List sweeps, and the polls of the runs a sweep finds
// changed, go ahead: a backlog of per-run polls must not hold up what the lists found.
#pragma once

namespace hookless {

enum class request_place { in_line, ahead };

}  // namespace hookless
