package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/store/redis/redistest"
)

// TestDKIMReplaySharedRedis: two hamlet daemons sharing one Redis store
// (two MX hosts) receive copies of one signed message from different
// networks; the fourth network, whichever host sees it, gets DKIM_REPLAY.
func TestDKIMReplaySharedRedis(t *testing.T) {
	dnsAddr, sign := bigmailSigner(t)
	raw := "From: someone@bigmail.example\r\nTo: x@example.org\r\nSubject: hi\r\nMessage-ID: <1@bigmail.example>\r\n\r\nA great offer for you.\r\n"
	signed := sign(raw)

	redisSrv := redistest.Start(t)
	host := func() string {
		d := runDaemon(t, `data_dir = "`+t.TempDir()+`"
store = "`+redisSrv.URL(0, "")+`"
[scan]
listen = ["127.0.0.1:0"]
[controller]
listen = "127.0.0.1:0"
[milter]
listen = []
[dns]
servers = ["`+dnsAddr+`"]
[dkim.replay]
max_networks = 3
`)
		return "http://" + d.Addrs("scan")[0]
	}
	mx1, mx2 := host(), host()
	n := 0
	scan := func(url, ip string) map[string]json.RawMessage {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url+"/checkv2", strings.NewReader(signed))
		req.Header.Set("IP", ip)
		// Each copy to another user: a network counts only with a new
		// recipient (the same users again is a retry).
		n++
		req.Header.Set("Rcpt", fmt.Sprintf("user%d@example.org", n))
		resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var r struct {
			Symbols map[string]json.RawMessage `json:"symbols"`
		}
		if err := json.Unmarshal(b, &r); err != nil || resp.StatusCode != 200 {
			t.Fatalf("checkv2: %d %s", resp.StatusCode, b)
		}
		if r.Symbols["R_DKIM_ALLOW"] == nil {
			t.Fatalf("the signature does not verify: %s", b)
		}
		return r.Symbols
	}
	for i, c := range []struct{ url, ip string }{{mx1, "192.0.2.1"}, {mx2, "198.51.100.1"}, {mx1, "203.0.113.1"}, {mx2, "192.0.2.200"}} {
		if s := scan(c.url, c.ip); s["DKIM_REPLAY"] != nil {
			t.Fatalf("copy %d from %s (3 networks so far): %s", i, c.ip, s["DKIM_REPLAY"])
		}
	}
	s := scan(mx1, "100.64.0.1")
	if s["DKIM_REPLAY"] == nil || !strings.Contains(string(s["DKIM_REPLAY"]), "4 networks in 5 messages") {
		t.Fatalf("the fourth network, seen by the other host: %v", s)
	}
	t.Logf("DKIM_REPLAY: %s", s["DKIM_REPLAY"])
}

func TestDKIMReplayConfigErrors(t *testing.T) {
	f := t.TempDir() + "/hamlet.toml"
	writeFile(f, "[dkim.replay]\nmax_networks = 0\n")
	if _, err := LoadSettings(f, Overrides{}); err == nil || !strings.Contains(err.Error(), "max_networks") {
		t.Errorf("max_networks = 0: %v", err)
	}
	writeFile(f, "[dkim.replay]\nmax_netwroks = 4\n")
	if _, err := LoadSettings(f, Overrides{}); err == nil || !strings.Contains(err.Error(), "max_netwroks") {
		t.Errorf("a misspelt option: %v", err)
	}
	writeFile(f, "[dkim.replay]\nwindow = \"2h\"\nmax_recipients = 10\n")
	s, err := LoadSettings(f, Overrides{})
	if err != nil || s.DKIMReplay.Window.D() != 2*time.Hour || s.DKIMReplay.MaxRecipients != 10 || s.DKIMReplay.MaxNetworks != 3 || !s.DKIMReplay.Enabled {
		t.Errorf("settings %+v, %v", s.DKIMReplay, err)
	}
}
