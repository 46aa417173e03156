package e2e

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/dkimkeys"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/internal/mtaenv"
	"github.com/hamlet-mail/hamlet/internal/sharedtest"
	"github.com/hamlet-mail/hamlet/message"
)

// The world the tests live in. Client addresses are in the documentation
// ranges (RFC 5737): clients in 127/8 or private ranges are local to hamlet
// and skip the connection checks.
const (
	hamIP      = "203.0.113.10" // mail.good.test, SPF pass for good.test
	softIP     = "203.0.113.20" // mail.soft.test, SPF softfail for soft.test
	forgerIP   = "203.0.113.30" // mail.evil.test, forging reject.test
	blockedIP  = "198.51.100.66"
	hangIP     = "203.0.113.40" // mail.hang.test, whose SPF lookup hangs
	noPTRIP    = "203.0.113.50" // no reverse DNS at all
	localPart  = "user"
	rcptDomain = "e2e.test"

	milterAddr  = "127.0.0.1:11332"
	scanAddr    = "127.0.0.1:11333"
	ctrlAddr    = "127.0.0.1:11334"
	postfixAddr = "127.0.0.1:2525"
	postfixUnix = "127.0.0.1:2528" // Postfix talking to hamlet over its unix socket
	osmtpdAddr  = "127.0.0.1:2526"
	chainAddr   = "127.0.0.1:2527" // OpenSMTPD, builtin rDNS filters then hamlet

	// The host's own users: mail From signDomain is signed by hamlet with
	// an RSA and an Ed25519 key when it is outbound: its client
	// authenticated (SMTP AUTH) or is in [outbound] networks.
	signDomain  = "out.test"
	rsaSelector = "e2ersa"
	edSelector  = "e2eed"
	saslUser    = "alice@e2e.test" // Postfix, Cyrus SASL sasldb
	authPass    = "e2e-submission-secret"
	outboundNet = "192.0.2.128/25" // [outbound] networks
	outboundIP  = "192.0.2.200"    // e.g. the host's web server

	scanTimeout = 12 * time.Second
)

// zone is the test DNS data; the DKIM key is appended at start.
const zone = `
$TTL 300
mail.good.test.        A   203.0.113.10
10.113.0.203.in-addr.arpa. PTR mail.good.test.
good.test.             TXT "v=spf1 ip4:203.0.113.10 -all"
_dmarc.good.test.      TXT "v=DMARC1; p=reject; rua=mailto:dmarc-rua@e2e.test"
; e2e.test takes good.test's reports (RFC 7489 §7.1), not reject.test's.
good.test._report._dmarc.e2e.test. TXT "v=DMARC1"

mail.soft.test.        A   203.0.113.20
20.113.0.203.in-addr.arpa. PTR mail.soft.test.
soft.test.             TXT "v=spf1 ip4:192.0.2.1 ~all"

mail.evil.test.        A   203.0.113.30
30.113.0.203.in-addr.arpa. PTR mail.evil.test.
evil.test.             TXT "v=spf1 ip4:203.0.113.30 -all"
reject.test.           TXT "v=spf1 ip4:192.0.2.1 -all"
_dmarc.reject.test.    TXT "v=DMARC1; p=reject; rua=mailto:dmarc-rua@e2e.test"

mail.blocked.test.     A   198.51.100.66
66.100.51.198.in-addr.arpa. PTR mail.blocked.test.
blocked.test.          TXT "v=spf1 ip4:198.51.100.66 -all"
66.100.51.198.score.senderscore.com. A 127.0.4.3

mail.hang.test.        A   203.0.113.40
40.113.0.203.in-addr.arpa. PTR mail.hang.test.
hang.test.             TXT "v=spf1 ip4:203.0.113.40 -all"

e2e.test.              MX  10 mx.e2e.test.
mx.e2e.test.           A   127.0.0.1
; e2e.test's own servers, as the DMARC reports it receives name them
out1.e2e.test.         A   192.0.2.11
11.2.0.192.in-addr.arpa. PTR out1.e2e.test.
; a spoofer whose reverse DNS claims a name of e2e.test (no A record back)
99.100.51.198.in-addr.arpa. PTR mail.e2e.test.
`

// hamletConfig: softfail weighs into the add header band (6 ≤ 7 < 15).
// Arguments: the milter socket, the RSA and Ed25519 key files, the
// signing domain, the two selectors and the outbound network.
const hamletConfig = `
hostname = "mx.e2e.test"

[scan]
listen = ["127.0.0.1:11333"]
timeout = "12s"

[controller]
listen = "127.0.0.1:11334"

[milter]
listen = ["127.0.0.1:11332", "unix:%[1]s"]
on_error = "tempfail"

[symbols]
R_SPF_SOFTFAIL = 7.0

[outbound]
networks = ["%[7]s"]

[[dkim.sign]]
domain = "%[4]s"
selector = "%[5]s"
key = "%[2]s"
algorithm = "rsa-sha256"

[[dkim.sign]]
domain = "%[4]s"
selector = "%[6]s"
key = "%[3]s"
algorithm = "ed25519-sha256"
`

type env struct {
	dir    string
	bin    string
	dns    *dnstest.Server
	key    *rsa.PrivateKey
	hamlet *exec.Cmd

	postfixConf string
	postfixMail string
	smtpd       *exec.Cmd
	smtpdMail   string

	// signKeys are hamlet's signing key files (RSA, Ed25519).
	signKeys [2]string

	// extraConfig is appended to hamletConfig (a test that restarts
	// hamlet with a section of its own sets it).
	extraConfig string

	features map[string]bool
	// lacking says why a tool feature (sasl) is off.
	lacking map[string]string
	mu      sync.Mutex
}

var (
	theEnv   *env
	envErr   error
	envOnce  sync.Once
	envClose []func()
)

// getEnv starts the world once for all tests: DNS, hamlet serve, Postfix,
// OpenSMTPD.
func getEnv(t *testing.T) *env {
	t.Helper()
	requireEnv(t)
	envOnce.Do(func() { theEnv, envErr = startEnv() })
	if envErr != nil {
		t.Fatalf("e2e environment: %v", envErr)
	}
	return theEnv
}

func teardownEnv() {
	for i := len(envClose) - 1; i >= 0; i-- {
		envClose[i]()
	}
}

func startEnv() (*env, error) {
	e := &env{bin: os.Getenv("HAMLET_E2E_BIN"), features: map[string]bool{}, lacking: map[string]string{}}
	if e.bin == "" {
		return nil, fmt.Errorf("HAMLET_E2E_BIN not set")
	}
	dir, err := os.MkdirTemp("", "hamlet-e2e-")
	if err != nil {
		return nil, err
	}
	os.Chmod(dir, 0o755)
	e.dir = dir
	envClose = append(envClose, func() {
		if os.Getenv("HAMLET_E2E_KEEP") == "" {
			os.RemoveAll(dir)
		}
	})

	e.key, err = rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	pub, _ := x509.MarshalPKIXPublicKey(&e.key.PublicKey)
	z := zone + fmt.Sprintf("e2e._domainkey.good.test. TXT %s\n", mtaenv.TXT("v=DKIM1; k=rsa; p="+base64.StdEncoding.EncodeToString(pub)))
	signRecords, err := e.makeSignKeys()
	if err != nil {
		return nil, fmt.Errorf("dkim signing keys: %w", err)
	}
	z += signRecords
	e.dns, err = dnstest.NewServerAt("127.0.0.1:53", z)
	if err != nil {
		return nil, fmt.Errorf("dns server: %w", err)
	}
	envClose = append(envClose, e.dns.Close)

	if err := e.startHamlet(); err != nil {
		return nil, err
	}
	envClose = append(envClose, e.stopHamlet)
	if err := e.startPostfix(); err != nil {
		return nil, err
	}
	if err := e.startOpenSMTPD(); err != nil {
		return nil, err
	}
	checks, err := e.probe()
	if err != nil {
		return nil, err
	}
	for k, v := range checks {
		e.features[k] = v
	}
	return e, nil
}

// makeSignKeys writes hamlet's signing keys for signDomain (mode 0600, as
// hamlet demands) and returns their DNS records in zone-file form.
func (e *env) makeSignKeys() (string, error) {
	dir := filepath.Join(e.dir, "dkim")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", err
	}
	var zone strings.Builder
	for i, k := range []struct{ alg, selector string }{{dkimkeys.AlgRSA, rsaSelector}, {dkimkeys.AlgEd25519, edSelector}} {
		key, err := dkimkeys.Generate(k.alg, 0)
		if err != nil {
			return "", err
		}
		pemBytes, err := dkimkeys.MarshalPrivateKey(key)
		if err != nil {
			return "", err
		}
		path := filepath.Join(dir, dkimkeys.KeyFileName(signDomain, k.selector))
		if err := dkimkeys.WriteKeyFile(path, pemBytes); err != nil {
			return "", err
		}
		rec, err := dkimkeys.KeyRecord(key.Public())
		if err != nil {
			return "", err
		}
		e.signKeys[i] = path
		fmt.Fprintf(&zone, "%s._domainkey.%s. TXT %s\n", k.selector, signDomain, mtaenv.TXT(rec))
	}
	return zone.String(), nil
}

func (e *env) startHamlet() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	conf := filepath.Join(e.dir, "hamlet.toml")
	if err := os.MkdirAll(filepath.Dir(e.milterSocket()), 0o755); err != nil {
		return err
	}
	text := fmt.Sprintf(hamletConfig, e.milterSocket(), e.signKeys[0], e.signKeys[1], signDomain, rsaSelector, edSelector, outboundNet) + e.extraConfig
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(e.dir, "hamlet.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(e.bin, "serve", "-c", conf, "--data", filepath.Join(e.dir, "hamlet-data"), "--dns", "127.0.0.1:53")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	e.hamlet = cmd
	if err := mtaenv.WaitTCP(milterAddr, 20*time.Second); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return fmt.Errorf("hamlet serve did not listen: %w\n%s", err, e.log("hamlet.log"))
	}
	return nil
}

// milterSocket is hamlet's unix socket listener, used by Postfix's second
// smtpd: inside Postfix's queue directory, which that smtpd is chrooted
// to, as the README's Install section sets it up ("/hamlet/milter.sock"
// seen from the chroot).
func (e *env) milterSocket() string {
	return filepath.Join(e.dir, "postfix", "spool", "hamlet", "milter.sock")
}

func (e *env) stopHamlet() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.hamlet == nil {
		return
	}
	e.hamlet.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { e.hamlet.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		e.hamlet.Process.Kill()
		<-done
	}
	e.hamlet = nil
}

func (e *env) log(name string) string {
	b, _ := os.ReadFile(filepath.Join(e.dir, name))
	return string(b)
}

// startPostfix runs a private Postfix instance: smtpd on 2525 with
// hamlet's milter, XCLIENT allowed from loopback, delivery to a maildir.
func (e *env) startPostfix() error {
	d := filepath.Join(e.dir, "postfix")
	conf := filepath.Join(d, "conf")
	mail := filepath.Join(d, "mail")
	for _, p := range []string{conf, filepath.Join(d, "spool"), filepath.Join(d, "data"), filepath.Join(mail, "sink", "new"), filepath.Join(mail, "sink", "cur"), filepath.Join(mail, "sink", "tmp")} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
	}
	if err := mtaenv.Run("chown", "-R", "65534:65534", mail); err != nil {
		return err
	}
	if err := mtaenv.Run("chown", "postfix", filepath.Join(d, "data")); err != nil {
		return err
	}
	main := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/spool
data_directory = %[1]s/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.e2e.test
mydomain = e2e.test
myorigin = e2e.test
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_authorized_xclient_hosts = 127.0.0.0/8
virtual_mailbox_domains = e2e.test
virtual_mailbox_base = %[1]s/mail
virtual_mailbox_maps = static:sink/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
alias_maps =
alias_database =
smtpd_milters = inet:%[2]s
non_smtpd_milters = inet:%[2]s
milter_protocol = 6
milter_default_action = tempfail
smtpd_milter_maps = cidr:%[1]s/conf/milter_maps
maillog_file_prefixes = %[1]s
maillog_file = %[1]s/maillog
`, d, milterAddr)
	sasl, err := e.setupSASL(d)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(conf, "main.cf"), []byte(main+sasl), 0o644); err != nil {
		return err
	}
	// The real 127.0.0.1 hop before XCLIENT skips the milter; the client
	// XCLIENT presents gets a milter session of its own.
	if err := os.WriteFile(filepath.Join(conf, "milter_maps"), []byte("127.0.0.0/8 DISABLE\n"), 0o644); err != nil {
		return err
	}
	master, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil {
		master, err = os.ReadFile("/usr/share/postfix/master.cf.dist")
		if err != nil {
			return err
		}
	}
	var out []string
	for _, l := range strings.Split(string(master), "\n") {
		if strings.HasPrefix(l, "smtp ") && strings.Contains(l, " inet ") {
			l = postfixAddr + " inet n - n - - smtpd\n" +
				postfixUnix + " inet n - y - - smtpd -o smtpd_milters=unix:/hamlet/milter.sock"
		}
		out = append(out, l)
	}
	if err := os.WriteFile(filepath.Join(conf, "master.cf"), []byte(strings.Join(out, "\n")), 0o644); err != nil {
		return err
	}
	if err := mtaenv.Run("postfix", "-c", conf, "check"); err != nil {
		return err
	}
	if err := mtaenv.Run("postfix", "-c", conf, "start"); err != nil {
		return err
	}
	envClose = append(envClose, func() { exec.Command("postfix", "-c", conf, "stop").Run() })
	e.postfixConf, e.postfixMail = conf, filepath.Join(mail, "sink")
	if err := mtaenv.WaitTCP(postfixAddr, 20*time.Second); err != nil {
		return err
	}
	return mtaenv.WaitTCP(postfixUnix, 20*time.Second)
}

// setupSASL gives the Postfix instance in d SMTP AUTH through Cyrus SASL
// with a private sasldb holding saslUser, and returns the main.cf lines
// for it. Without Cyrus support in Postfix or saslpasswd2 (Debian
// sasl2-bin), AUTH stays off and the feature "sasl" says why.
func (e *env) setupSASL(d string) (string, error) {
	if out, err := exec.Command("postconf", "-a").Output(); err != nil || !strings.Contains("\n"+string(out), "\ncyrus\n") {
		e.lacking["sasl"] = "Postfix lacks Cyrus SASL support (postconf -a does not list cyrus)"
		return "", nil
	}
	if _, err := exec.LookPath("saslpasswd2"); err != nil {
		e.lacking["sasl"] = "missing saslpasswd2 (Debian sasl2-bin; run .ci/install-e2e)"
		return "", nil
	}
	// With cyrus_sasl_config_path naming another directory, Debian's
	// smtpd did not read smtpd.conf (all mechanisms offered, /etc/sasldb2
	// tried); $config_directory/sasl, Debian's default, works. Both
	// name this directory.
	dir := filepath.Join(d, "conf", "sasl")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	db := filepath.Join(dir, "sasldb2")
	user, realm, _ := strings.Cut(saslUser, "@")
	cmd := exec.Command("saslpasswd2", "-p", "-c", "-f", db, "-u", realm, user)
	cmd.Stdin = strings.NewReader(authPass)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("saslpasswd2: %v: %s", err, out)
	}
	// smtpd runs as postfix and reads the database itself (auxprop).
	if err := mtaenv.Run("chown", "root:postfix", db); err != nil {
		return "", err
	}
	if err := os.Chmod(db, 0o640); err != nil {
		return "", err
	}
	conf := "pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\nsasldb_path: " + db + "\n"
	if err := os.WriteFile(filepath.Join(dir, "smtpd.conf"), []byte(conf), 0o644); err != nil {
		return "", err
	}
	e.features["sasl"] = true
	return fmt.Sprintf(`smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = %s
smtpd_sasl_security_options = noanonymous
`, dir), nil
}

// startOpenSMTPD runs OpenSMTPD in the foreground: a proxy-v2 listener
// with hamlet's filter, delivery to a maildir as nobody.
func (e *env) startOpenSMTPD() error {
	d := filepath.Join(e.dir, "opensmtpd")
	mail := filepath.Join(d, "mail")
	if err := os.MkdirAll(mail, 0o755); err != nil {
		return err
	}
	os.Chmod(mail, 0o1777)
	// Port 2526: hamlet alone. Port 2527: hamlet chained after
	// OpenSMTPD's builtin rDNS filters, as the README shows.
	conf := fmt.Sprintf(`table vusers { "@e2e.test" = "nobody" }
filter "hamlet" proc-exec "%s opensmtpd --milter %s --on-error tempfail"
filter "no-rdns"   phase connect match !rdns   disconnect "550 5.7.1 no rDNS"
filter "no-fcrdns" phase connect match !fcrdns disconnect "550 5.7.1 no FCrDNS"
filter "inbound" chain { "no-rdns", "no-fcrdns", "hamlet" }
listen on 127.0.0.1 port 2526 proxy-v2 filter "hamlet"
listen on 127.0.0.1 port 2527 proxy-v2 filter "inbound"
action "deliver" maildir "%s/%%{user.username}" virtual <vusers>
match from any for domain "e2e.test" action "deliver"
`, e.bin, milterAddr, mail)
	cmd, _, err := mtaenv.StartOpenSMTPD(d, conf, filepath.Join(e.dir, "smtpd.log"))
	if err != nil {
		return err
	}
	e.smtpd = cmd
	e.smtpdMail = filepath.Join(mail, "nobody")
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	envClose = append(envClose, func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})
	if err := mtaenv.WaitTCP(chainAddr, 20*time.Second); err != nil {
		return fmt.Errorf("smtpd did not listen: %w\n%s", err, e.log("smtpd.log"))
	}
	return nil
}

// smtpdAlive reports whether OpenSMTPD still runs (a filter that exits or
// misbehaves takes it down).
func (e *env) smtpdAlive() bool {
	return e.smtpd.ProcessState == nil && e.smtpd.Process.Signal(syscall.Signal(0)) == nil
}

// probe asks hamlet serve, over its rspamd protocol, which checks it runs:
// a test whose check is not in the daemon yet skips, naming it.
func (e *env) probe() (map[string]bool, error) {
	f := map[string]bool{}
	scan := func(ip, helo, from, msg string) (string, error) {
		req, _ := http.NewRequest("POST", "http://"+scanAddr+"/checkv2", strings.NewReader(msg))
		req.Header.Set("IP", ip)
		req.Header.Set("Helo", helo)
		req.Header.Set("From", from)
		req.Header.Set("Rcpt", localPart+"@"+rcptDomain)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	ham, err := scan(hamIP, "mail.good.test", "a@good.test", string(e.hamMessage("<probe-ham@good.test>")))
	if err != nil {
		return nil, fmt.Errorf("probing hamlet's checks: %w", err)
	}
	f["spf"] = strings.Contains(ham, `"R_SPF_`)
	f["dkim"] = strings.Contains(ham, `"R_DKIM_`)
	f["dmarc"] = strings.Contains(ham, `"DMARC_`)
	f["authres"] = strings.Contains(ham, `Authentication-Results`)
	blocked, err := scan(blockedIP, "mail.blocked.test", "a@blocked.test", "Subject: probe\r\n\r\nprobe\r\n")
	if err != nil {
		return nil, err
	}
	f["senderscore"] = strings.Contains(blocked, `"RBL_SENDERSCORE`)
	return f, nil
}

// need skips a test whose check hamlet serve does not run yet, or whose
// tool (sasl) the machine lacks; under CI=true it fails the test
// instead: CI must run every case.
func (e *env) need(t *testing.T, features ...string) {
	t.Helper()
	for _, name := range features {
		if e.features[name] {
			continue
		}
		why, ok := e.lacking[name]
		if !ok {
			why = fmt.Sprintf("hamlet serve does not run the %s check yet (no %s symbol over /checkv2)", name, name)
		}
		sharedtest.Missing(t, "%s", why)
	}
}

// hamMessage is a message from good.test, DKIM-signed by good.test.
func (e *env) hamMessage(id string) []byte {
	raw := "From: Alice <alice@good.test>\r\n" +
		"To: " + localPart + "@" + rcptDomain + "\r\n" +
		"Subject: quarterly report\r\n" +
		"Date: " + msgDate() + "\r\n" +
		"Message-ID: " + id + "\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" +
		"Hello,\r\n\r\nthe figures are attached in spirit.\r\n"
	sig, err := dkim.Sign(message.Parse([]byte(raw)), dkim.SignOptions{Domain: "good.test", Selector: "e2e", Signer: crypto.Signer(e.key)})
	if err != nil {
		panic(err)
	}
	return []byte("DKIM-Signature:" + sig + "\r\n" + raw)
}

// msgDate is a Date field body of now: a fixed date would age into the
// header check's DATE_IN_PAST.
func msgDate() string { return time.Now().UTC().Format(time.RFC1123Z) }

func plainMessage(from, id, subject string) []byte {
	return []byte("From: " + from + "\r\nTo: " + localPart + "@" + rcptDomain + "\r\nSubject: " + subject +
		"\r\nDate: " + msgDate() + "\r\nMessage-ID: " + id + "\r\n\r\nbody of " + id + "\r\n")
}

// client is how a test presents itself to an MTA: the address and names
// of the SMTP client it plays.
type client struct {
	IP, Name, Helo string
}

// result is what swaks saw.
type result struct {
	out  string
	err  error
	code int
}

// dataAccepted reports whether the message was queued (250 after the
// final dot).
func (r result) dataAccepted() bool {
	i := strings.Index(r.out, " -> .\n")
	return i >= 0 && strings.Contains(r.out[i:], "<-  250")
}

// firstRefusal returns the first 4xx/5xx reply line.
func (r result) firstRefusal() string {
	for _, l := range strings.Split(r.out, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "<** ") || strings.HasPrefix(l, "<~* ") {
			l = strings.TrimSpace(l[4:])
		} else if strings.HasPrefix(l, "<-  ") {
			l = strings.TrimSpace(l[4:])
		} else {
			continue
		}
		if len(l) >= 3 && (l[0] == '4' || l[0] == '5') && l[1] >= '0' && l[1] <= '9' {
			return l
		}
	}
	return ""
}

// reachedData reports whether the server ever invited the message (354).
func (r result) reachedData() bool { return strings.Contains(r.out, "<-  354") }

// send sends msg through the MTA mta ("postfix" or "opensmtpd") as client
// c. "postfix-submit" submits it with SMTP AUTH as the test user, on
// Postfix's port 2525 after XCLIENT.
func (e *env) send(ctx context.Context, mta string, c client, from string, msg []byte) result {
	return e.sendTo(ctx, mta, c, from, localPart+"@"+rcptDomain, msg)
}

// sendTo is send to the envelope recipient rcpt.
func (e *env) sendTo(ctx context.Context, mta string, c client, from, rcpt string, msg []byte) result {
	f, err := os.CreateTemp(e.dir, "msg-*.eml")
	if err != nil {
		return result{err: err}
	}
	f.Write(msg)
	f.Close()
	defer os.Remove(f.Name())
	args := []string{"--to", rcpt, "--from", from, "--helo", c.Helo, "--data", f.Name(), "--timeout", "60"}
	switch mta {
	case "postfix-submit":
		// swaks sends XCLIENT, then EHLO again, then AUTH: the milter
		// session XCLIENT opens sees {auth_authen} at MAIL.
		args = append(args, "--server", postfixAddr, "--xclient", fmt.Sprintf("ADDR=%s NAME=%s HELO=%s", c.IP, c.Name, c.Helo),
			"--auth", "PLAIN", "--auth-user", saslUser, "--auth-password", authPass)
	case "postfix", "postfix-unix":
		server := postfixAddr
		if mta == "postfix-unix" {
			server = postfixUnix
		}
		args = append(args, "--server", server, "--xclient", fmt.Sprintf("ADDR=%s NAME=%s HELO=%s", c.IP, c.Name, c.Helo))
	case "opensmtpd", "opensmtpd-chain":
		server, port := osmtpdAddr, "2526"
		if mta == "opensmtpd-chain" {
			server, port = chainAddr, "2527"
		}
		args = append(args, "--server", server, "--proxy-version", "2", "--proxy-family", "AF_INET",
			"--proxy-source", c.IP, "--proxy-source-port", "40000", "--proxy-dest", "127.0.0.1", "--proxy-dest-port", port)
	}
	cmd := exec.CommandContext(ctx, "swaks", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	code := 0
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
	}
	return result{out: out.String(), err: err, code: code}
}

// delivered returns the delivered message with Message-ID id, waiting a
// little for the MTA's delivery agent.
func (e *env) delivered(mta, id string, wait time.Duration) (string, bool) {
	return e.deliveredWith(mta, "Message-ID: "+id, wait)
}

// deliveredWith returns the first delivered message that holds text,
// waiting a little for the MTA's delivery agent.
func (e *env) deliveredWith(mta, text string, wait time.Duration) (string, bool) {
	dir := e.postfixMail
	if strings.HasPrefix(mta, "opensmtpd") {
		dir = e.smtpdMail
	}
	deadline := time.Now().Add(wait)
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "new", "*"))
		for _, fn := range files {
			b, err := os.ReadFile(fn)
			if err == nil && bytes.Contains(b, []byte(text)) {
				return string(b), true
			}
		}
		if time.Now().After(deadline) {
			return "", false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// header returns the header part of a delivered message.
func header(msg string) string {
	if i := strings.Index(msg, "\n\n"); i >= 0 {
		return msg[:i+1]
	}
	return msg
}

// scansTotal sums hamlet_scans_total over its actions from the daemon's
// /metrics.
func scansTotal(t *testing.T) float64 {
	t.Helper()
	resp, err := http.Get("http://" + ctrlAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "hamlet_scans_total") {
			continue
		}
		f := strings.Fields(l)
		var v float64
		if _, err := fmt.Sscanf(f[len(f)-1], "%g", &v); err == nil {
			sum += v
		}
	}
	return sum
}
