package daemon

import (
	"context"
	"net/netip"
	"testing"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
)

// [history] enabled = false keeps nothing of a scan; the default keeps it.
func TestHistoryEnabled(t *testing.T) {
	for _, tc := range []struct {
		conf string
		want int
	}{{"", 1}, {"[history]\nenabled = false\n", 0}} {
		dir := t.TempDir()
		f := t.TempDir() + "/hamlet.toml"
		writeFile(f, `data_dir = "`+dir+`"
[scan]
listen = []
[controller]
listen = ""
[milter]
listen = []
[dns]
servers = ["127.0.0.1:9"]
timeout = "100ms"
`+tc.conf)
		d, err := New(f, Overrides{})
		if err != nil {
			t.Fatal(err)
		}
		d.Engine().Scan(context.Background(), &engine.Transaction{QueueID: "H1", ClientIP: netip.MustParseAddr("192.0.2.1"), MailFrom: "a@example.org", Rcpts: []string{"b@example.net"}})
		d.closeStore()
		st, err := bolt.Open(dir, store.Options{SweepInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		rs, err := st.HistoryList(context.Background(), store.HistoryQuery{Limit: 10})
		st.Close()
		if err != nil || len(rs) != tc.want {
			t.Errorf("%q: %d history records (%v), want %d", tc.conf, len(rs), err, tc.want)
		}
	}
}
