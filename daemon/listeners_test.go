package daemon

import "testing"

func TestExposed(t *testing.T) {
	for _, c := range []struct {
		network, addr string
		want          bool
	}{
		{"tcp", "127.0.0.1:11333", false},
		{"tcp", "127.9.9.9:1", false},
		{"tcp", "[::1]:11332", false},
		{"tcp", "localhost:11332", false},
		{"tcp", "0.0.0.0:11333", true},
		{"tcp", "[::]:11333", true},
		{"tcp", "192.0.2.1:11332", true},
		{"tcp", "mx.example.org:11332", true},
		{"unix", "/run/hamlet/milter.sock", false},
	} {
		if got := Exposed(c.network, c.addr); got != c.want {
			t.Errorf("Exposed(%s, %s) = %v", c.network, c.addr, got)
		}
	}
}

func TestHTTPConnCap(t *testing.T) {
	for _, c := range []struct{ configured, fds, want int }{
		{0, 64, 8}, {0, 1024, 248}, {0, 10, 8}, {500, 64, 500},
	} {
		if got := HTTPConnCap(c.configured, c.fds); got != c.want {
			t.Errorf("HTTPConnCap(%d, %d) = %d, want %d", c.configured, c.fds, got, c.want)
		}
	}
	if fdLimit() <= 0 {
		t.Errorf("fdLimit() = %d", fdLimit())
	}
}
