package sdnotify

import (
	"syscall"
	"unsafe"
)

const clockMonotonicID = 1 // CLOCK_MONOTONIC

func clockMonotonic(ts *syscall.Timespec) error {
	_, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonicID, uintptr(unsafe.Pointer(ts)), 0)
	if e != 0 {
		return e
	}
	return nil
}
