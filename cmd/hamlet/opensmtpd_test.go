package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestOpenSMTPDCommand(t *testing.T) {
	in := strings.NewReader("config|smtpd-version|6.8.0p2\nconfig|ready\n" +
		"garbage line\n" +
		"filter|0.6|1|smtp-in|connect|00000000000000a1|0000000000000001|x|192.0.2.1\n")
	var out, errb bytes.Buffer
	code := run([]string{"opensmtpd", "--milter", "127.0.0.1:1"}, in, &out, &errb)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if lines[len(lines)-2] != "register|ready" {
		t.Errorf("handshake not ended by register|ready: %q", lines)
	}
	if got := lines[len(lines)-1]; got != "filter-result|00000000000000a1|0000000000000001|reject|451 4.7.1 Mail filter unavailable, try again later" {
		t.Errorf("with hamlet down: %q", got)
	}
}

func TestOpenSMTPDDialAddr(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:11332":       "127.0.0.1:11332",
		"0.0.0.0:11332":         "127.0.0.1:11332",
		":11332":                "127.0.0.1:11332",
		"[::]:11332":            "[::1]:11332",
		"unix:/run/hamlet.sock": "unix:/run/hamlet.sock",
		"inet:192.0.2.5:11332":  "192.0.2.5:11332",
	} {
		if got := dialAddr([]string{in}); got != want {
			t.Errorf("dialAddr(%q) = %q, want %q", in, got, want)
		}
	}
	if got := dialAddr(nil); got != "127.0.0.1:11332" {
		t.Errorf("no listen: %q", got)
	}
}
