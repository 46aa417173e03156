package milter

import (
	"bytes"
	"io"
	"log/slog"
	"maps"
	"net"
	"testing"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/message"
)

// seedStream is a valid Postfix-like conversation, packet after packet.
func seedStream() []byte {
	var b []byte
	b = AppendPacket(b, CmdOptNeg, Negotiation{Version: 6, Actions: allActions, Protocol: allProto}.Encode())
	b = AppendPacket(b, CmdMacro, []byte{CmdConnect}, cstr("{client_addr}"), cstr("192.0.2.1"), cstr("{client_name}"), cstr("unknown"))
	b = AppendPacket(b, CmdConnect, Connect{Hostname: "unknown", Family: '4', Port: 25, Addr: "192.0.2.1"}.Encode())
	b = AppendPacket(b, CmdHelo, cstr("helo.example"))
	b = AppendPacket(b, CmdMail, cstr("<a@example.org>"), cstr("SIZE=10"))
	b = AppendPacket(b, CmdRcpt, cstr("<b@example.net>"))
	b = AppendPacket(b, CmdHeader, cstr("Subject"), cstr(" hi\n\tthere"))
	b = AppendPacket(b, CmdEOH)
	b = AppendPacket(b, CmdBody, []byte("body\r\n"))
	b = AppendPacket(b, CmdMacro, []byte{CmdEOB}, cstr("i"), cstr("Q1"))
	b = AppendPacket(b, CmdEOB)
	b = AppendPacket(b, CmdAbort)
	b = AppendPacket(b, CmdQuitNC)
	b = AppendPacket(b, CmdQuit)
	return b
}

// FuzzDecode feeds arbitrary bytes to the packet reader and every decoder:
// errors are fine, panics and unbounded allocations are not.
func FuzzDecode(f *testing.F) {
	f.Add(seedStream())
	f.Add([]byte{0, 0, 0, 1, 'C'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 'B'})
	f.Add(AppendPacket(nil, CmdConnect, []byte("host\x006\x00\x19IPv6:::1\x00")))
	f.Add(AppendPacket(nil, RespOptNeg, Negotiation{Version: 6, Macros: requestedMacros}.Encode()))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for i := 0; i < 1000; i++ {
			p, err := ReadPacket(r)
			if err != nil {
				return
			}
			if len(p.Data)+1 > MaxPacket {
				t.Fatalf("packet of %d bytes accepted", len(p.Data))
			}
			_, _ = DecodeNegotiation(p.Data)
			_, _ = DecodeConnect(p.Data)
			_, _, _ = DecodeMacros(p.Data)
			_, _, _ = DecodeAddress(p.Data)
			_, _, _ = DecodeHeader(p.Data)
			_ = DecodeString(p.Data)
		}
	})
}

// FuzzSession runs arbitrary packet sequences through a server session
// with a real (check-less) engine: the state machine must never panic,
// and every answer it gives must be well-formed packets.
func FuzzSession(f *testing.F) {
	f.Add(seedStream())
	f.Add(AppendPacket(AppendPacket(nil, CmdEOB), CmdMail, cstr("<x>")))
	f.Add(AppendPacket(AppendPacket(nil, CmdBody, []byte("x")), CmdEOB))
	e, err := engine.New(engine.Options{Policy: engine.DefaultPolicy(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	srv := NewServer(func() *engine.Engine { return e }, Config{MaxMessageSize: 4096}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		m := newSession(srv, a)
		defer m.cancel()
		defer m.endScan()
		r := bytes.NewReader(data)
		for i := 0; i < 200; i++ {
			p, err := ReadPacket(r)
			if err != nil {
				return
			}
			out, quit, err := m.handle(p)
			if err != nil || quit {
				return
			}
			or := bytes.NewReader(out)
			for or.Len() > 0 {
				if _, err := ReadPacket(or); err != nil {
					t.Fatalf("malformed answer %q to %q: %v", out, p.Cmd, err)
				}
			}
		}
	})
}

// FuzzApplyHeaderEdits: without edits a message comes back as the parser
// normalised it (nothing dropped, nothing added); with an insert it comes
// back with exactly that field added and nothing else changed.
func FuzzApplyHeaderEdits(f *testing.F) {
	f.Add([]byte("From: a\r\nSubject: x\r\n\r\nbody\r\n"))
	f.Add([]byte("From: a\r\n.dot line\r\n\r\nbody"))
	f.Add([]byte("no header\n\nbody"))
	f.Add([]byte("A: b\r\n\tfolded\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		norm := message.Parse(raw).Raw
		if got := ApplyHeaderEdits(raw, nil, true); !bytes.Equal(got, norm) {
			t.Fatalf("no edits changed the message:\n in %q\nout %q", norm, got)
		}
		got := ApplyHeaderEdits(raw, []Modification{{Code: RespInsHeader, Name: "X-Spam", Value: " Yes"}}, true)
		if len(got) != len(norm)+13 || !bytes.Equal(bytes.Replace(got, []byte("X-Spam: Yes\r\n"), nil, 1), norm) {
			t.Fatalf("insert at the top:\n got %q\n  in %q", got, norm)
		}
	})
}

// FuzzSameMacros: sameMacros says "nothing new" only when decoding the
// data would give exactly the macros already held, and it says so for
// every repetition of the same data (Postfix's queue id before each
// header field).
func FuzzSameMacros(f *testing.F) {
	f.Add([]byte("i\x00Q1\x00"), []byte("i\x00Q1\x00"))
	f.Add([]byte("i\x00Q1\x00"), []byte("i\x00Q2\x00"))
	f.Add([]byte("{i}\x00Q1\x00"), []byte("i\x00Q1"))
	f.Add([]byte(""), []byte(""))
	f.Add([]byte("a\x00b\x00"), []byte("a\x00b\x00a\x00b\x00"))
	f.Add([]byte("a\x00\x00"), []byte("a\x00"))
	f.Fuzz(func(t *testing.T, held, data []byte) {
		_, have, err := DecodeMacros(append([]byte{CmdHeader}, held...))
		if err != nil {
			t.Fatal(err)
		}
		_, want, _ := DecodeMacros(append([]byte{CmdHeader}, data...))
		if sameMacros(have, data) && !maps.Equal(have, want) {
			t.Fatalf("held %q, data %q decodes to %q: not the same", have, data, want)
		}
		if !sameMacros(want, data) && len(bytes.Split(bytes.TrimSuffix(data, []byte{0}), []byte{0}))%2 == 0 && len(data) > 0 && len(want) <= 16 && distinctNames(data) {
			t.Fatalf("data %q not the same as its own decoding %q", data, want)
		}
	})
}

// distinctNames reports whether macro data names each macro once.
func distinctNames(data []byte) bool {
	parts := splitCStrings(data)
	seen := map[string]bool{}
	for i := 0; i+1 < len(parts); i += 2 {
		n := MacroName(parts[i])
		if seen[n] {
			return false
		}
		seen[n] = true
	}
	return true
}
