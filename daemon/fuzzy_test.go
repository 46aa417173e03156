package daemon

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/content"
	"github.com/hamlet-mail/hamlet/fuzzy"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/store/redis/redistest"
)

// TestFuzzyReplayRedisDown: with the store in Redis, a hash added with
// rspamc's endpoint makes a near copy FUZZY_DENIED; with Redis down the
// scan still answers 200 (FUZZY_ERROR says why, DKIM_REPLAY stays away,
// DKIM still verifies), and adding answers 503.
func TestFuzzyReplayRedisDown(t *testing.T) {
	dnsAddr, signRaw := bigmailSigner(t)
	body := "Dear customer, your parcel could not be delivered because the customs fee of the shipment was not paid. " +
		"Follow the link below and pay the fee today, or the parcel goes back to the sender at the end of the week.\r\n"
	sign := func(name string) string {
		return signRaw("From: notice@bigmail.example\r\nTo: " + name + "@example.org\r\nSubject: parcel\r\nMessage-ID: <" + name + "@bigmail.example>\r\n\r\nHello " + name + ". " + body)
	}
	srv := redistest.Start(t)
	d := runDaemon(t, `data_dir = "`+t.TempDir()+`"
store = "`+srv.URL(0, "")+`"
[scan]
listen = ["127.0.0.1:0"]
timeout = "5s"
[controller]
listen = "127.0.0.1:0"
[milter]
listen = []
[dns]
servers = ["`+dnsAddr+`"]
`)
	scanURL, ctlURL := "http://"+d.Addrs("scan")[0], "http://"+d.Addrs("controller")[0]
	post := func(url, msg string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(msg))
		req.Header.Set("IP", "192.0.2.1")
		resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	symbols := func(msg string) map[string]json.RawMessage {
		t.Helper()
		code, b := post(scanURL+"/checkv2", msg)
		var r struct {
			Symbols map[string]json.RawMessage `json:"symbols"`
		}
		if err := json.Unmarshal([]byte(b), &r); err != nil || code != http.StatusOK {
			t.Fatalf("checkv2: %d %s", code, b)
		}
		return r.Symbols
	}
	if code, b := post(ctlURL+"/fuzzyadd", sign("alice")); code != http.StatusOK {
		t.Fatalf("fuzzyadd: %d %s", code, b)
	}
	if s := symbols(sign("bob")); s["FUZZY_DENIED"] == nil || s["R_DKIM_ALLOW"] == nil {
		t.Fatalf("Redis up, a near copy: %v", names(s))
	}
	srv.Stop()
	s := symbols(sign("carol"))
	if s["FUZZY_ERROR"] == nil || s["FUZZY_DENIED"] != nil || s["DKIM_REPLAY"] != nil || s["R_DKIM_ALLOW"] == nil {
		t.Fatalf("Redis down: %v", names(s))
	}
	if code, b := post(ctlURL+"/fuzzyadd", sign("dave")); code != http.StatusServiceUnavailable || !strings.Contains(b, "store is unavailable") {
		t.Errorf("fuzzyadd with Redis down: %d %s", code, b)
	}
}

// TestScanPageLearnFeedsFuzzy: the web UI's learn buttons (learnRaw)
// feed the fuzzy hashes as the learn endpoints do.
func TestScanPageLearnFeedsFuzzy(t *testing.T) {
	f := t.TempDir() + "/hamlet.toml"
	writeFile(f, `data_dir = "`+t.TempDir()+`"
[scan]
listen = []
[controller]
listen = []
[milter]
listen = []
[dns]
servers = ["127.0.0.1:9"]
`)
	d, err := New(f, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.closeStore()
	raw := []byte("From: a@promo.example\r\nTo: b@example.org\r\nSubject: offer\r\n\r\n" + strings.Repeat("Claim the prize you won in our international lottery today, contact the agent now. ", 3))
	ctx := context.Background()
	if _, err := d.learnRaw(ctx, raw, true); err != nil {
		t.Fatal(err)
	}
	fz := d.fuzzy.Load()
	hs := fz.Hashes(content.Parse(message.Parse(raw), content.Limits{}))
	if ms, err := fz.Check(ctx, hs); err != nil || len(ms) != 1 || ms[0].Flag != fuzzy.FlagDenied {
		t.Fatalf("after learning spam on the scan page: %+v %v", ms, err)
	}
	if _, err := d.learnRaw(ctx, raw, false); err != nil {
		t.Fatal(err)
	}
	if ms, _ := fz.Check(ctx, hs); len(ms) != 0 {
		t.Errorf("after learning it as ham: %+v", ms)
	}
}
