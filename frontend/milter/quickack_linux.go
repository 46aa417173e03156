package milter

import (
	"net"
	"syscall"
)

// noQuickAck turns AckNow off, for the benchmark that shows the stall.
var noQuickAck bool

// AckNow sends the acknowledgement the kernel is holding back for data
// already read from c (TCP_QUICKACK, tcp(7)), when c is TCP.
//
// Why: Postfix writes each milter event with its own write(2) and leaves
// Nagle's algorithm on. When it streams events that want no reply (the
// header fields, the end of the header, body chunks, with the no-reply
// flags negotiated), every write after the first waits for the first to
// be acknowledged — and Linux delays the acknowledgement of data that
// gets no answer by up to 40 ms (delayed ACK). That stalled every message
// by about 40 ms over loopback TCP (a unix socket has neither). Sending
// the ACK as soon as a no-reply event has been read releases Postfix's
// next write at once; setting TCP_QUICKACK with an acknowledgement
// pending sends it immediately. Exported for other milters in this module
// (bench/mta's null milter) that stream no-reply events too.
func AckNow(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	ackRaw(rc)
}

// ackRaw is AckNow on a connection's raw descriptor (kept by the session,
// so that each acknowledgement costs the one system call).
func ackRaw(rc syscall.RawConn) {
	if noQuickAck {
		return
	}
	_ = rc.Control(setQuickAck)
}

func setQuickAck(fd uintptr) {
	_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
}
