package checks

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/classify"
	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/dkimkeys"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/internal/sharedtest"
	"github.com/hamlet-mail/hamlet/message"
)

var (
	signKeysOnce sync.Once
	signRSA      *rsa.PrivateKey
	signEd       ed25519.PrivateKey
)

func signTestKeys() (*rsa.PrivateKey, ed25519.PrivateKey) {
	signKeysOnce.Do(func() {
		var err error
		if signRSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		_, signEd, _ = ed25519.GenerateKey(rand.Reader)
	})
	return signRSA, signEd
}

// writeSignKeyFile writes k as PKCS#8 PEM (or PKCS#1 when pkcs1) with mode.
func writeSignKeyFile(t *testing.T, dir, name string, k crypto.Signer, pkcs1 bool, mode os.FileMode) string {
	t.Helper()
	var b []byte
	if pkcs1 {
		b = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.(*rsa.PrivateKey))})
	} else {
		var err error
		if b, err = dkimkeys.MarshalPrivateKey(k); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// signMessage has trailing white space, tabs, a folded header and empty
// lines at the end, so that simple and relaxed canonicalization differ.
const signMessage = "From: \"Alice Example\" <alice@example.org>\r\n" +
	"To: bob@example.net,\r\n\t  carol@example.net\r\n" +
	"Subject:   Quarterly   figures \t\r\n" +
	"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n" +
	"Message-ID: <q3@example.org>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Hello Bob,  \r\n" +
	"\tthe figures  are\there. \r\n" +
	"\r\n\r\n"

// signEnv is a DNS server publishing the test keys and a signing finisher.
type signEnv struct {
	srv *dnstest.Server
	res dns.Resolver
	dir string
}

func newSignEnv(t *testing.T) *signEnv {
	t.Helper()
	rk, ek := signTestKeys()
	recR, _ := dkimkeys.KeyRecord(rk.Public())
	recE, _ := dkimkeys.KeyRecord(ek.Public())
	var zone strings.Builder
	for _, sel := range []string{"rsa", "rsa2"} {
		zone.WriteString(dkimkeys.ZoneRecord(sel, "example.org", recR))
	}
	zone.WriteString(dkimkeys.ZoneRecord("ed", "example.org", recE))
	srv, err := startSignDNS(zone.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	res, err := dns.NewClient(dns.Config{Servers: []string{srv.Addr()}, Timeout: duration.Duration(2 * time.Second), Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return &signEnv{srv: srv, res: res, dir: t.TempDir()}
}

func (e *signEnv) finisher(t *testing.T, keys ...dkimkeys.SignKey) *DKIMSign {
	t.Helper()
	f, err := NewDKIMSign(DKIMConfig{Sign: keys}, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (e *signEnv) keyFiles(t *testing.T) (rsaPath, edPath string) {
	rk, ek := signTestKeys()
	return writeSignKeyFile(t, e.dir, "rsa.pem", rk, true, 0o600), writeSignKeyFile(t, e.dir, "ed.pem", ek, false, 0o600)
}

// withSignatures prepends the verdict's signatures as a front end does.
func withSignatures(raw string, v *engine.Verdict) string {
	var b strings.Builder
	for _, s := range v.DKIMSignatures {
		b.WriteString("DKIM-Signature: " + s + "\r\n")
	}
	return b.String() + raw
}

// dkimpyVerify runs dkimpy on files with the key records from srv; it
// returns "pass" per signature or the failure. Without python3-dkim the
// test is skipped, or fails under CI=true.
func dkimpyVerify(t *testing.T, srv *dnstest.Server, files ...string) map[string][]string {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import dkim, dns.resolver, nacl").Run(); err != nil {
		sharedtest.Missing(t, "dkimpy not available: install the Debian package python3-dkim: %v", err)
	}
	host, port, _ := strings.Cut(srv.Addr(), ":")
	out, err := exec.Command(py, append([]string{"testdata/dkimpy_verify.py", host, port}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("dkimpy: %v: %s", err, out)
	}
	res := map[string][]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" {
			continue
		}
		f := strings.SplitN(line, "\t", 4)
		if len(f) != 4 {
			t.Fatalf("dkimpy output %q", line)
		}
		st := f[2]
		if st != "pass" {
			st += ": " + f[3]
		}
		res[f[0]] = append(res[f[0]], st)
	}
	return res
}

// TestDKIMSignVerifiesEverywhere: messages signed by the finisher with
// RSA and Ed25519 keys, relaxed and simple, verify with dkimpy and with
// hamlet's verifier, both getting the key records from the test DNS
// server.
func TestDKIMSignVerifiesEverywhere(t *testing.T) {
	env := newSignEnv(t)
	rsaPath, edPath := env.keyFiles(t)
	type job struct {
		name  string
		keys  []dkimkeys.SignKey
		nsigs int
		file  string
		raw   string
	}
	var jobs []*job
	for _, canon := range []string{"relaxed/relaxed", "simple/simple", "relaxed/simple", "simple/relaxed"} {
		jobs = append(jobs,
			&job{name: "rsa " + canon, nsigs: 1, keys: []dkimkeys.SignKey{{Domain: "example.org", Selector: "rsa", Key: rsaPath, Canonicalization: canon}}},
			&job{name: "ed25519 " + canon, nsigs: 1, keys: []dkimkeys.SignKey{{Domain: "example.org", Selector: "ed", Key: edPath, Algorithm: "ed25519-sha256", Canonicalization: canon}}},
		)
	}
	jobs = append(jobs, &job{name: "dual default", nsigs: 2, keys: []dkimkeys.SignKey{
		{Domain: "example.org", Selector: "rsa", Key: rsaPath},
		{Domain: "example.org", Selector: "ed", Key: edPath, Algorithm: "ed25519-sha256"},
	}})
	// A subdomain's mail signed with the parent's key (subdomains = true).
	jobs = append(jobs, &job{name: "parent key", nsigs: 1, keys: []dkimkeys.SignKey{{Domain: "example.org", Selector: "rsa2", Key: rsaPath, Subdomains: true, Expire: duration.Duration(72 * time.Hour)}},
		raw: strings.Replace(signMessage, "alice@example.org", "alice@lists.example.org", 1)})

	var files []string
	for i, j := range jobs {
		f := env.finisher(t, j.keys...)
		raw := j.raw
		if raw == "" {
			raw = signMessage
		}
		tx := &engine.Transaction{Outbound: true, AuthUser: "alice", Message: message.Parse([]byte(raw))}
		v := &engine.Verdict{Action: engine.NoAction}
		if err := f.Finish(context.Background(), tx, nil, v); err != nil {
			t.Fatalf("%s: %v", j.name, err)
		}
		if len(v.DKIMSignatures) != j.nsigs {
			t.Fatalf("%s: %d signatures, want %d", j.name, len(v.DKIMSignatures), j.nsigs)
		}
		if s, ok := symbol(v, SymDKIMSigned); !ok || len(s.Options) != j.nsigs || s.Score != 0 {
			t.Errorf("%s: DKIM_SIGNED symbol %+v", j.name, s)
		}
		j.raw = withSignatures(raw, v)
		j.file = filepath.Join(env.dir, fmt.Sprintf("msg%d.eml", i))
		if err := os.WriteFile(j.file, []byte(j.raw), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, j.file)

		// hamlet's own verifier, through the real DNS client.
		res := dkim.Verify(context.Background(), env.res, message.Parse([]byte(j.raw)), nil)
		if len(res) != j.nsigs {
			t.Fatalf("%s: hamlet verified %d signatures", j.name, len(res))
		}
		for _, r := range res {
			if r.Status != dkim.StatusPass {
				t.Errorf("%s: hamlet: %s %s", j.name, r.Status, r.Reason)
			}
			if err := oversignedIn(raw, r.Signature.Headers); err != nil {
				t.Errorf("%s: %v", j.name, err)
			}
		}
	}
	got := dkimpyVerify(t, env.srv, files...)
	passed := 0
	for _, j := range jobs {
		r := got[j.file]
		if len(r) != j.nsigs {
			t.Errorf("%s: dkimpy saw %d signatures: %v", j.name, len(r), r)
			continue
		}
		for _, s := range r {
			if s != "pass" {
				t.Errorf("%s: dkimpy: %s\n%s", j.name, s, j.raw)
			} else {
				passed++
			}
		}
	}
	t.Logf("%d signatures verified by dkimpy and by hamlet", passed)

	// dkimpy is not just saying yes: a body changed after signing fails.
	tampered := filepath.Join(env.dir, "tampered.eml")
	os.WriteFile(tampered, []byte(strings.Replace(jobs[0].raw, "figures  are", "figures were", 1)), 0o644)
	if r := dkimpyVerify(t, env.srv, tampered)[tampered]; len(r) != 1 || r[0] == "pass" {
		t.Errorf("dkimpy on a tampered message: %v", r)
	}
}

// oversignedIn checks RFC 6376 §8.15 over-signing: h= names each of these
// fields once more than the message has it.
func oversignedIn(raw string, h []string) error {
	m := message.Parse([]byte(raw))
	count := map[string]int{}
	for _, n := range h {
		count[strings.ToLower(n)]++
	}
	for _, f := range []string{"From", "To", "Cc", "Subject", "Date", "Reply-To", "Message-ID", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"} {
		if got, want := count[strings.ToLower(f)], len(m.Get(f))+1; got != want {
			return fmt.Errorf("h=%s names %s %d times, want %d", strings.Join(h, ":"), f, got, want)
		}
	}
	return nil
}

func TestDKIMSignWhenNot(t *testing.T) {
	env := newSignEnv(t)
	rsaPath, _ := env.keyFiles(t)
	f := env.finisher(t, dkimkeys.SignKey{Domain: "example.org", Selector: "rsa", Key: rsaPath})
	msg := message.Parse([]byte(signMessage))
	other := message.Parse([]byte(strings.Replace(signMessage, "alice@example.org", "alice@sub.example.org", 1)))
	noFrom := message.Parse([]byte(strings.Replace(signMessage, "From:", "X-From:", 1)))
	for _, tt := range []struct {
		name string
		tx   engine.Transaction
		v    engine.Verdict
		want int
	}{
		{"outbound", engine.Transaction{Outbound: true, Message: msg}, engine.Verdict{}, 1},
		{"outbound add header", engine.Transaction{Outbound: true, Message: msg}, engine.Verdict{Action: engine.AddHeader}, 1},
		{"inbound", engine.Transaction{Message: msg}, engine.Verdict{}, 0},
		{"local not outbound", engine.Transaction{Local: true, Message: msg}, engine.Verdict{}, 0},
		{"no message", engine.Transaction{Outbound: true}, engine.Verdict{}, 0},
		{"rejected", engine.Transaction{Outbound: true, Message: msg}, engine.Verdict{Action: engine.Reject}, 0},
		{"soft rejected", engine.Transaction{Outbound: true, Message: msg}, engine.Verdict{Action: engine.SoftReject}, 0},
		{"subject rewritten", engine.Transaction{Outbound: true, Message: msg}, engine.Verdict{Action: engine.RewriteSubject, SubjectRewrite: "[SPAM] x"}, 0},
		{"subdomain without subdomains=true", engine.Transaction{Outbound: true, Message: other}, engine.Verdict{}, 0},
		{"no From", engine.Transaction{Outbound: true, Message: noFrom}, engine.Verdict{}, 0},
	} {
		v := tt.v
		if err := f.Finish(context.Background(), &tt.tx, nil, &v); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if len(v.DKIMSignatures) != tt.want {
			t.Errorf("%s: %d signatures, want %d", tt.name, len(v.DKIMSignatures), tt.want)
		}
		if _, ok := symbol(&v, SymDKIMSigned); ok != (tt.want > 0) {
			t.Errorf("%s: DKIM_SIGNED present = %v", tt.name, ok)
		}
	}
	// No keys at all: a finisher that does nothing.
	empty, err := NewDKIMSign(DKIMConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := engine.Verdict{}
	if err := empty.Finish(context.Background(), &engine.Transaction{Outbound: true, Message: msg}, nil, &v); err != nil || len(v.DKIMSignatures) != 0 {
		t.Errorf("no keys: %v %v", err, v.DKIMSignatures)
	}
}

// TestDKIMSignSeveralFromDomains: a From with two mailboxes of two signed
// domains gets a signature for each.
func TestDKIMSignSeveralFromDomains(t *testing.T) {
	env := newSignEnv(t)
	rsaPath, edPath := env.keyFiles(t)
	f := env.finisher(t,
		dkimkeys.SignKey{Domain: "example.org", Selector: "rsa", Key: rsaPath},
		dkimkeys.SignKey{Domain: "example.com", Selector: "ed", Key: edPath, Algorithm: "ed25519-sha256"})
	raw := strings.Replace(signMessage, "From: \"Alice Example\" <alice@example.org>", "From: alice@example.org, bob@example.com", 1)
	v := engine.Verdict{}
	if err := f.Finish(context.Background(), &engine.Transaction{Outbound: true, Message: message.Parse([]byte(raw))}, nil, &v); err != nil {
		t.Fatal(err)
	}
	var ds []string
	for _, s := range v.DKIMSignatures {
		sig, err := dkim.ParseSignature(s)
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, sig.Domain+"/"+sig.Algorithm.String())
	}
	if strings.Join(ds, ",") != "example.org/rsa-sha256,example.com/ed25519-sha256" {
		t.Errorf("signatures %v", ds)
	}
}

func TestNewDKIMSignRefusesReadableKey(t *testing.T) {
	dir := t.TempDir()
	rk, _ := signTestKeys()
	p := writeSignKeyFile(t, dir, "open.pem", rk, true, 0o640)
	_, err := NewDKIMSign(DKIMConfig{Sign: []dkimkeys.SignKey{{Domain: "example.org", Selector: "s", Key: p}}}, nil)
	if err == nil || !errors.Is(err, dkimkeys.ErrPermissions) || !strings.Contains(err.Error(), "chmod 600 "+p) {
		t.Fatalf("group-readable key: %v", err)
	}
	cfg := DKIMConfig{Sign: []dkimkeys.SignKey{{Domain: "example.org", Selector: "s", Key: p, Algorithm: "rsa"}}}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `algorithm "rsa"`) {
		t.Fatalf("Validate: %v", err)
	}
}

// TestDKIMSignThroughEngine: an authenticated client's message comes out
// of the engine signed; the same message from an unauthenticated client
// does not.
func TestDKIMSignThroughEngine(t *testing.T) {
	env := newSignEnv(t)
	rsaPath, edPath := env.keyFiles(t)
	f := env.finisher(t,
		dkimkeys.SignKey{Domain: "example.org", Selector: "rsa", Key: rsaPath},
		dkimkeys.SignKey{Domain: "example.org", Selector: "ed", Key: edPath, Algorithm: "ed25519-sha256"})
	cl, err := classify.New(nil, classify.Outbound{Networks: []string{"198.51.100.0/24"}}, classify.Allowlist{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.Options{Finishers: []engine.Finisher{f}, Policy: engine.DefaultPolicy(), Classifier: cl, Timeout: 3 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, ip, user string
		want           int
	}{
		{"authenticated", "203.0.113.9", "alice", 2},
		{"outbound network", "198.51.100.7", "", 2},
		{"inbound", "203.0.113.9", "", 0},
	} {
		v := e.Scan(context.Background(), &engine.Transaction{
			ClientIP: netip.MustParseAddr(tt.ip), AuthUser: tt.user, Helo: "client.example.org",
			MailFrom: "alice@example.org", Rcpts: []string{"bob@example.net"}, Message: message.Parse([]byte(signMessage)),
		})
		if len(v.DKIMSignatures) != tt.want {
			t.Errorf("%s: %d signatures, want %d (errors %v)", tt.name, len(v.DKIMSignatures), tt.want, v.Errors)
			continue
		}
		for _, r := range dkim.Verify(context.Background(), env.res, message.Parse([]byte(withSignatures(signMessage, v))), nil) {
			if r.Status != dkim.StatusPass {
				t.Errorf("%s: %s %s", tt.name, r.Status, r.Reason)
			}
		}
	}
}

// BenchmarkDKIMSign: the signing finisher on an 8 KB message with an
// RSA-2048 key, an Ed25519 key, and both (two signatures per message).
func BenchmarkDKIMSign(b *testing.B) {
	rk, ek := signTestKeys()
	var body strings.Builder
	for body.Len() < 8<<10 {
		body.WriteString("Lorem ipsum dolor sit amet,  consectetur adipiscing elit, sed do eiusmod \r\n")
	}
	raw := strings.SplitN(signMessage, "\r\n\r\n", 2)[0] + "\r\n\r\n" + body.String()
	rsaKey := dkimkeys.Key{Config: dkimkeys.SignKey{Domain: "example.org", Selector: "rsa"}, Signer: rk}
	edKey := dkimkeys.Key{Config: dkimkeys.SignKey{Domain: "example.org", Selector: "ed", Algorithm: dkimkeys.AlgEd25519}, Signer: ek}
	for _, bc := range []struct {
		name string
		keys []dkimkeys.Key
	}{{"rsa2048", []dkimkeys.Key{rsaKey}}, {"ed25519", []dkimkeys.Key{edKey}}, {"dual", []dkimkeys.Key{rsaKey, edKey}}} {
		b.Run(bc.name, func(b *testing.B) {
			set, err := dkimkeys.NewSet(bc.keys)
			if err != nil {
				b.Fatal(err)
			}
			f := NewDKIMSignKeys(set, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
			tx := &engine.Transaction{Outbound: true, Message: message.Parse([]byte(raw))}
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				v := engine.Verdict{}
				if err := f.Finish(context.Background(), tx, nil, &v); err != nil || len(v.DKIMSignatures) != len(bc.keys) {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// startSignDNS starts a dnstest server, trying again when the random UDP port's
// TCP twin is taken by another process (dnstest binds both).
func startSignDNS(zone string) (*dnstest.Server, error) {
	for i := 0; ; i++ {
		srv, err := dnstest.NewServer(zone)
		if err == nil || i == 9 || !strings.Contains(err.Error(), "address already in use") {
			return srv, err
		}
	}
}
