//go:build !linux

package milter

import (
	"net"
	"syscall"
)

// AckNow is a no-op where TCP_QUICKACK does not exist.
func AckNow(net.Conn) {}

func ackRaw(syscall.RawConn) {}
