package mtaenv

import "net"

// VStreamWriter writes what a milter client buffers in pieces of at most
// 4096 bytes, one write(2) each, as Postfix's milter client does: it
// writes through a VSTREAM of that size, flushed when full and before it
// waits for a reply. A packet is therefore often cut at a write boundary,
// which is what the milter benchmarks must reproduce.
type VStreamWriter struct{ net.Conn }

// Write implements io.Writer.
func (v VStreamWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		k, err := v.Conn.Write(b[:min(len(b), 4096)])
		n += k
		if err != nil {
			return n, err
		}
		b = b[k:]
	}
	return n, nil
}
