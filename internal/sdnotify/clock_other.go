//go:build !linux

package sdnotify

import (
	"errors"
	"syscall"
)

func clockMonotonic(*syscall.Timespec) error { return errors.New("no CLOCK_MONOTONIC") }
