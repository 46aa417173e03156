//go:build !linux

package milter

import "net"

// AckNow is a no-op where TCP_QUICKACK does not exist.
func AckNow(net.Conn) {}
