package rspamdhttp

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/internal/sharedtest"
)

// serve runs the handler on a real TCP listener on loopback, behind the
// http.Server that Config.HTTPServer builds, and returns its address.
func serve(t *testing.T, h *Handler, cfg Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := cfg.HTTPServer(ln.Addr().String(), h)
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ln.Addr().String()
}

// rspamcPath finds rspamd's client, from Debian's rspamd package. It is
// required on CI (CI=true) and optional elsewhere.
func rspamcPath(t *testing.T) string {
	t.Helper()
	return sharedtest.Require(t, "rspamc", "rspamd")
}

func runRspamc(t *testing.T, rspamc string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, rspamc, args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "TERM=dumb")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("rspamc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestRspamc scans a message with rspamd's own client against hamlet's
// handler on a TCP port, and checks that rspamc prints hamlet's action,
// score and symbols, and the envelope it was told to send.
func TestRspamc(t *testing.T) {
	rspamc := rspamcPath(t)
	e := testEngine(t)
	h := New(func() *engine.Engine { return e }, Config{}, quietLogger())
	addr := serve(t, h, Config{})

	msg := filepath.Join(t.TempDir(), "offer.eml")
	body := msgWith("X-Test-Symbols: TEST_SPAM, TEST_SMALL=opt1, TEST_SMALL=opt2\r\n")
	if err := os.WriteFile(msg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}

	out := runRspamc(t, rspamc, "-h", addr, "-t", "20",
		"-i", "192.0.2.10", "--helo", "mail.example.org", "--hostname", "mail.example.org",
		"-F", "alice@example.org", "-r", "bob@example.net", "-r", "carol@example.net",
		"-u", "alice", "symbols", msg)
	t.Logf("rspamc output:\n%s", out)
	for _, want := range []string{
		"Action: add header\n",
		"Spam: true\n",
		"Score: 7.33 / 15.00\n",
		"Symbol: TEST_SPAM (7.00)\n",
		"Symbol: TEST_SMALL (0.33)[opt1, opt2]\n",
		"Symbol: TEST_ENVELOPE (0.00)[ip=192.0.2.10, helo=mail.example.org, ptr=mail.example.org, rdns=1, " +
			"from=alice@example.org, rcpts=bob@example.net;carol@example.net, user=alice, queue=, mta=]\n",
		"Message-ID: offer.7@example.org\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rspamc output lacks %q", want)
		}
	}

	// A reject, and the reply text rspamc shows as a message.
	out = runRspamc(t, rspamc, "-h", addr, "-i", "192.0.2.10", "--hostname", "unknown", "symbols", writeMsg(t, "X-Test-Symbols: TEST_BIG\r\n"))
	for _, want := range []string{
		"Action: reject\n",
		"Score: 18.00 / 15.00\n",
		"Symbol: RDNS_NONE (2.00)\n",
		"Symbol: TEST_BIG (16.00)\n",
		"Message - smtp_message: 5.7.1 Message rejected as spam\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rspamc output lacks %q:\n%s", want, out)
		}
	}

	// --json prints hamlet's reply, which must parse and agree.
	out = runRspamc(t, rspamc, "-h", addr, "--json", "symbols", msg)
	i := strings.IndexByte(out, '{')
	if i < 0 {
		t.Fatalf("no JSON in rspamc --json output:\n%s", out)
	}
	var got reply
	if err := json.NewDecoder(strings.NewReader(out[i:])).Decode(&got); err != nil {
		t.Fatalf("rspamc --json output does not parse: %v\n%s", err, out)
	}
	if got.Action != "add header" || got.Score != 7.33 || got.Symbols["TEST_SPAM"].Score != 7 {
		t.Errorf("rspamc --json: action %q score %v, want add header 7.33", got.Action, got.Score)
	}
}

// TestRspamcCompressed checks that rspamc -z, whose zstd body hamlet does
// not read, gets a clear error rather than a wrong verdict.
func TestRspamcCompressed(t *testing.T) {
	rspamc := rspamcPath(t)
	e := testEngine(t)
	h := New(func() *engine.Engine { return e }, Config{}, quietLogger())
	addr := serve(t, h, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, rspamc, "-h", addr, "-z", "symbols", writeMsg(t, ""))
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, _ := cmd.CombinedOutput()
	t.Logf("rspamc -z output:\n%s", out)
	if strings.Contains(string(out), "Action:") {
		t.Errorf("rspamc -z got a verdict; hamlet cannot read zstd bodies")
	}
	if !strings.Contains(string(out), "415") && !strings.Contains(string(out), "not supported") {
		t.Errorf("rspamc -z output does not show the 415 error")
	}
}

func writeMsg(t *testing.T, extra string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.eml")
	if err := os.WriteFile(p, []byte(msgWith(extra)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
