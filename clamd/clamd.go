// Package clamd is a client of ClamAV's daemon: it streams a message to
// clamd with the INSTREAM command and reads the verdict (clamd(8),
// "COMMANDS"). Commands use the z prefix (NUL-terminated, as clamd
// recommends); the stream is sent in chunks, each preceded by its length
// as a 4-byte unsigned integer in network byte order, and ended by a
// zero-length chunk.
//
// This package does not pool connections (clamd closes an INSTREAM
// connection after its reply), does not retry, and does not read clamd's
// configuration: the caller names the socket and the deadline.
package clamd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// chunkSize is the size of INSTREAM chunks.
const chunkSize = 64 << 10

// maxReply bounds what is read of a reply.
const maxReply = 4096

// Errors of a scan; they are wrapped, so test them with errors.Is.
var (
	// ErrSizeLimit: clamd refused the stream as longer than its
	// StreamMaxLength.
	ErrSizeLimit = errors.New("clamd: INSTREAM size limit exceeded")
	// ErrProtocol: clamd's reply was not one this client understands.
	ErrProtocol = errors.New("clamd: unexpected reply")
)

// Client talks to one clamd. It is safe for concurrent use.
type Client struct {
	network, address string
}

// New parses addr: "unix:/run/clamav/clamd.ctl" or an absolute socket
// path, "tcp:127.0.0.1:3310" or "127.0.0.1:3310" ("[::1]:3310").
func New(addr string) (*Client, error) {
	a := strings.TrimSpace(addr)
	switch {
	case strings.HasPrefix(a, "unix:"):
		p := strings.TrimPrefix(a, "unix:")
		if p == "" {
			return nil, fmt.Errorf("clamd: %q: empty socket path", addr)
		}
		return &Client{"unix", p}, nil
	case strings.HasPrefix(a, "/"):
		return &Client{"unix", a}, nil
	}
	a = strings.TrimPrefix(a, "tcp:")
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" || port == "" {
		return nil, fmt.Errorf("clamd: %q is neither unix:/path nor host:port", addr)
	}
	return &Client{"tcp", a}, nil
}

// String returns the address as New accepts it.
func (c *Client) String() string { return c.network + ":" + c.address }

// Result is clamd's verdict on a stream.
type Result struct {
	// Virus is the signature name clamd found ("" when clean), e.g.
	// "Win.Test.EICAR_HDB-1" or "Heuristics.Encrypted.Zip".
	Virus string
}

// Found reports whether clamd found something.
func (r Result) Found() bool { return r.Virus != "" }

// dial connects, with ctx's deadline on the whole exchange.
func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, c.network, c.address)
	if err != nil {
		return nil, fmt.Errorf("clamd: connect %s: %w", c, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// A cancelled context (not only a deadline) ends the exchange too.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	return &ctxConn{Conn: conn, stop: stop}, nil
}

type ctxConn struct {
	net.Conn
	stop func() bool
}

func (c *ctxConn) Close() error { c.stop(); return c.Conn.Close() }

// Ping asks clamd whether it is alive (PING → PONG).
func (c *Client) Ping(ctx context.Context) error {
	conn, err := c.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("zPING\x00")); err != nil {
		return fmt.Errorf("clamd: %w", ctxErr(ctx, err))
	}
	reply, err := readReply(conn)
	if err != nil {
		return ctxErr(ctx, err)
	}
	if reply != "PONG" {
		return fmt.Errorf("%w to PING: %q", ErrProtocol, reply)
	}
	return nil
}

// Scan streams data to clamd and returns its verdict. The error wraps
// ErrSizeLimit when clamd refuses the size, ErrProtocol for a reply it
// does not understand, and the network or context error otherwise.
func (c *Client) Scan(ctx context.Context, data []byte) (Result, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return Result{}, err
	}
	defer conn.Close()
	w := bufio.NewWriterSize(conn, chunkSize+8)
	w.WriteString("zINSTREAM\x00")
	var hdr [4]byte
	for len(data) > 0 {
		n := min(len(data), chunkSize)
		binary.BigEndian.PutUint32(hdr[:], uint32(n))
		w.Write(hdr[:])
		if _, err := w.Write(data[:n]); err != nil {
			// clamd may stop reading and answer (size limit): read it.
			break
		}
		data = data[n:]
	}
	binary.BigEndian.PutUint32(hdr[:], 0)
	w.Write(hdr[:])
	werr := w.Flush()
	reply, rerr := readReply(conn)
	if rerr != nil {
		if werr != nil {
			return Result{}, fmt.Errorf("clamd: sending: %w", ctxErr(ctx, werr))
		}
		return Result{}, ctxErr(ctx, rerr)
	}
	return parseReply(reply)
}

// parseReply reads an INSTREAM reply: "stream: OK", "stream: NAME FOUND",
// or "… ERROR".
func parseReply(reply string) (Result, error) {
	switch {
	case reply == "stream: OK":
		return Result{}, nil
	case strings.HasPrefix(reply, "stream: ") && strings.HasSuffix(reply, " FOUND"):
		name := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(reply, "stream: "), " FOUND"))
		if name == "" {
			return Result{}, fmt.Errorf("%w: %q", ErrProtocol, reply)
		}
		return Result{Virus: name}, nil
	case strings.Contains(reply, "size limit exceeded"):
		return Result{}, fmt.Errorf("%w: %q", ErrSizeLimit, reply)
	case strings.HasSuffix(reply, " ERROR"):
		return Result{}, fmt.Errorf("clamd: %s", reply)
	}
	return Result{}, fmt.Errorf("%w: %q", ErrProtocol, reply)
}

// readReply reads one NUL- (or newline-) terminated reply of at most
// maxReply bytes; a reply ended by the connection closing is accepted.
func readReply(conn net.Conn) (string, error) {
	var buf bytes.Buffer
	b := make([]byte, 512)
	for buf.Len() < maxReply {
		n, err := conn.Read(b)
		buf.Write(b[:n])
		if i := bytes.IndexAny(buf.Bytes(), "\x00\n"); i >= 0 {
			return string(buf.Bytes()[:i]), nil
		}
		if err != nil {
			if buf.Len() > 0 && errors.Is(err, io.EOF) {
				return buf.String(), nil
			}
			return "", fmt.Errorf("clamd: reading reply: %w", err)
		}
	}
	return "", fmt.Errorf("%w: reply longer than %d bytes", ErrProtocol, maxReply)
}

// ctxErr prefers the context's error (a deadline) over the network error
// it caused.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}
