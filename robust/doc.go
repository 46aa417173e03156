// Package robust holds hamlet's load and fault tests. Each runs the real
// `hamlet serve` binary (built by the test) on loopback, with a test DNS
// server and its own data directory, drives it through the Go milter
// client and rspamd's HTTP protocol, and reads the daemon's own figures
// (RSS and open descriptors from /proc, goroutines from /metrics):
//
//   - 1 000 milter sessions open at once: every one answered, the
//     daemon's RSS reported and bounded;
//   - a soak at a fixed rate through milter and HTTP together while the
//     DNS server drops 10 % of the queries and delays 10 %: every message
//     gets a defined answer, and goroutines and descriptors do not grow;
//   - kill -9 while greylisting writes its triplets, then a restart on the
//     same store: it opens, and no triplet whose 451 was given is lost;
//   - `ulimit -n 64` and 70 idle milter connections (which used to end
//     hamlet serve with "accept: too many open files"): it stays up;
//   - Redis killed in the middle of the load and started again: hamlet
//     fails open while it is down (no tempfail storm) and greylists again
//     once it is back, without a restart.
//
// Each test stops by itself, bounded in time and count. With -short the
// soak lasts 5 s instead of 30 s; HAMLET_SOAK=60s makes it a minute.
// HAMLET_ROBUST_BIN names a binary to test instead of building one (an
// older build, to see a test fail before its fix).
package robust
