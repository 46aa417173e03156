//go:build unix

package milter

import "syscall"

// DefaultMaxConnections is half the process's file descriptor limit (the
// other half is left to the scan API, the controller, DNS and the store),
// at least 16: a full table of milter connections must never leave the
// daemon unable to open anything else.
func DefaultMaxConnections() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 512
	}
	return int(max(16, min(rl.Cur/2, 1<<20)))
}
