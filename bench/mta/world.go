package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/internal/mtaenv"
	"github.com/hamlet-mail/hamlet/message"
)

// The clients: 203.0.113.1 … 203.0.113.clients, mailN.good.test.
const (
	clients    = 16
	rcptDomain = "bench.test"
	rspamdBin  = "/usr/bin/rspamd"

	hamletMilter = "127.0.0.1:11332"
	hamletCtrl   = "127.0.0.1:11334"
	hamletScan   = "127.0.0.1:11333"
	rspamdMilter = "127.0.0.1:11432"
	nullAddr     = "127.0.0.1:11532"
	sinkAddr     = "127.0.0.1:2600"
)

// Postfix smtpd ports, one per target, all on every address.
var postfixPorts = map[string]int{"postfix": 25, "hamlet": 26, "hamlet-unix": 27, "rspamd": 28, "null-milter": 29, "rspamd-unix": 30, "null-milter-unix": 31}

// OpenSMTPD ports.
var smtpdPorts = map[string]int{"opensmtpd": 2525, "opensmtpd-hamlet": 2526}

func clientIP(i int) string { return fmt.Sprintf("203.0.113.%d", 1+i%clients) }

type world struct {
	o    Options
	dir  string
	bin  string
	out  io.Writer
	dns  *dnstest.Server
	msgs [][]byte

	hamlet, rspamd, smtpd *exec.Cmd
	postfixConf           string
	postfixPID            int
	maillog               string
	sink                  *sink
	checked               atomic.Int64 // /checkv2 scans answered
	// paceRate is the last hamlet run's msg/s: checkv2 runs at it.
	paceRate float64
	closers  []func()
}

func newWorld(o Options, bin string, out io.Writer) (w *world, err error) {
	w = &world{o: o, bin: bin, out: out}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	needSMTPD := contains(o.Targets, "opensmtpd") || contains(o.Targets, "opensmtpd-hamlet")
	var addrs []string
	for i := range clients {
		addrs = append(addrs, clientIP(i)+"/32")
	}
	if err := mtaenv.SetupNamespace(addrs, needSMTPD); err != nil {
		return w, fmt.Errorf("namespace: %w", err)
	}
	if o.QuickackRoute {
		// Every milter connection is to 127.0.0.1: with this route
		// metric the kernel acknowledges each segment at once.
		if err := mtaenv.Run("ip", "route", "change", "local", "127.0.0.1", "dev", "lo", "table", "local",
			"proto", "kernel", "scope", "host", "src", "127.0.0.1", "quickack", "1"); err != nil {
			return w, fmt.Errorf("quickack route: %w", err)
		}
	}
	w.dir, err = os.MkdirTemp("", "hamlet-mtabench-")
	if err != nil {
		return w, err
	}
	os.Chmod(w.dir, 0o755)
	w.closers = append(w.closers, func() {
		if o.Keep {
			fmt.Fprintln(out, "work directory kept:", w.dir)
			return
		}
		os.RemoveAll(w.dir)
	})
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return w, err
	}
	if w.msgs, err = loadMessages(o.Corpus, key); err != nil {
		return w, err
	}
	if w.dns, err = dnstest.NewServerAt("127.0.0.1:53", zone(&key.PublicKey)); err != nil {
		return w, fmt.Errorf("dns server: %w", err)
	}
	w.closers = append(w.closers, w.dns.Close)
	if err := w.startHamlet(); err != nil {
		return w, fmt.Errorf("hamlet: %w", err)
	}
	if contains(o.Targets, "rspamd") || contains(o.Targets, "rspamd-unix") {
		if err := w.startRspamd(); err != nil {
			return w, fmt.Errorf("rspamd: %w", err)
		}
	}
	if contains(o.Targets, "null-milter") {
		nm, err := startNullMilter("tcp", nullAddr)
		if err != nil {
			return w, fmt.Errorf("null milter: %w", err)
		}
		w.closers = append(w.closers, nm.close)
	}
	if contains(o.Targets, "null-milter-unix") {
		nm, err := startNullMilter("unix", w.nullSocket())
		if err != nil {
			return w, fmt.Errorf("null milter: %w", err)
		}
		w.closers = append(w.closers, nm.close)
	}
	if err := w.startPostfix(); err != nil {
		return w, fmt.Errorf("postfix: %w", err)
	}
	if needSMTPD {
		if w.sink, err = startSink(sinkAddr); err != nil {
			return w, fmt.Errorf("sink: %w", err)
		}
		w.closers = append(w.closers, w.sink.close)
		if err := w.startOpenSMTPD(); err != nil {
			return w, fmt.Errorf("opensmtpd: %w", err)
		}
	}
	return w, nil
}

func (w *world) close() {
	for i := len(w.closers) - 1; i >= 0; i-- {
		w.closers[i]()
	}
	w.closers = nil
}

func (w *world) avgKB() float64 {
	n := 0
	for _, m := range w.msgs {
		n += len(m)
	}
	return float64(n) / float64(len(w.msgs)) / 1024
}

// zone is the DNS of the benchmark's world: each client has a PTR whose
// name points back at it, good.test's SPF covers them, its DKIM key and
// DMARC record are published.
func zone(pub *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	var z strings.Builder
	z.WriteString("$TTL 3600\n")
	z.WriteString(`good.test. TXT "v=spf1 ip4:203.0.113.0/24 -all"` + "\n")
	z.WriteString(`_dmarc.good.test. TXT "v=DMARC1; p=reject"` + "\n")
	z.WriteString("good.test. MX 10 mail1.good.test.\n")
	fmt.Fprintf(&z, "bench._domainkey.good.test. TXT %s\n", mtaenv.TXT("v=DKIM1; k=rsa; p="+base64.StdEncoding.EncodeToString(der)))
	for i := range clients {
		fmt.Fprintf(&z, "mail%d.good.test. A %s\n", i+1, clientIP(i))
		fmt.Fprintf(&z, "%d.113.0.203.in-addr.arpa. PTR mail%d.good.test.\n", i+1, i+1)
	}
	z.WriteString("bench.test. MX 10 mx.bench.test.\nmx.bench.test. A 127.0.0.1\n")
	return z.String()
}

// loadMessages reads the corpus and re-signs each message as mail from
// good.test: From becomes a good.test address, earlier signatures go.
func loadMessages(dir string, key *rsa.PrivateKey) ([][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	var out [][]byte
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		raw := rewrite(b)
		if raw == nil {
			continue
		}
		sig, err := dkim.Sign(message.Parse(raw), dkim.SignOptions{Domain: "good.test", Selector: "bench", Signer: key})
		if err != nil {
			return nil, fmt.Errorf("%s: signing: %w", e.Name(), err)
		}
		out = append(out, append([]byte("DKIM-Signature:"+sig+"\r\n"), raw...))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("corpus %s: no messages", dir)
	}
	return out, nil
}

// rewrite normalises a corpus message to CRLF, drops its envelope line,
// signatures and trace fields, and sets From to a good.test sender.
func rewrite(b []byte) []byte {
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	if strings.HasPrefix(s, "From ") {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	head, body, ok := strings.Cut(s, "\n\n")
	if !ok {
		return nil
	}
	var fields []string
	for _, l := range strings.Split(head, "\n") {
		if (l != "" && (l[0] == ' ' || l[0] == '\t')) && len(fields) > 0 {
			fields[len(fields)-1] += "\n" + l
			continue
		}
		fields = append(fields, l)
	}
	var h strings.Builder
	h.WriteString("From: Alice Correspondent <alice@good.test>\n")
	// Addressed to the benchmark's recipient and dated now, as the ham it
	// stands for: the corpus's 2002 To and Date would be the header
	// check's FORGED_RECIPIENTS and DATE_IN_PAST, and greylisted.
	h.WriteString("To: user@" + rcptDomain + "\n")
	h.WriteString("Date: " + time.Now().UTC().Format(time.RFC1123Z) + "\n")
	for _, f := range fields {
		name, _, _ := strings.Cut(f, ":")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "to", "cc", "date", "message-id":
			continue
		case "from", "dkim-signature", "domainkey-signature", "received", "return-path", "delivered-to", "x-spam-status", "x-spam-flag", "x-spam-level", "x-spam-checker-version", "authentication-results", "arc-seal", "arc-message-signature", "arc-authentication-results":
			continue
		}
		h.WriteString(f + "\n")
	}
	// Some fixtures lack a Subject or have none or an odd Message-ID
	// (MISSING_SUBJECT 2.0, MISSING_MID 2.5, INVALID_MSGID 1.7): the ham
	// they stand for has a sane one.
	h.WriteString(fmt.Sprintf("Message-ID: <bench-%x@good.test>\n", len(body)))
	if !strings.Contains(strings.ToLower(h.String()), "\nsubject:") {
		h.WriteString("Subject: corpus message\n")
	}
	msg := h.String() + "\n" + body
	return []byte(strings.ReplaceAll(msg, "\n", "\r\n"))
}

// hamletConfig: the scan API and controller on loopback (the controller
// for /metrics), the milter over TCP and over a unix socket.
const hamletConfig = `hostname = "mx.bench.test"
cpus = %d

[scan]
listen = ["127.0.0.1:11333"]

[controller]
listen = "%s"

[milter]
listen = ["%s", "unix:%s"]

[log]
level = "warn"
`

func (w *world) milterSocket() string { return filepath.Join(w.dir, "milter.sock") }

func (w *world) nullSocket() string { return filepath.Join(w.dir, "null-milter.sock") }

// rspamdSocket is rspamd's milter proxy socket, in its run directory
// (owned by _rspamd; mode 0666 for Postfix's smtpd and cleanup).
func (w *world) rspamdSocket() string { return filepath.Join(w.dir, "rspamd", "run", "milter.sock") }

func (w *world) startHamlet() error {
	conf := filepath.Join(w.dir, "hamlet.toml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(hamletConfig, w.o.HamletCPUs, hamletCtrl, hamletMilter, w.milterSocket())), 0o644); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(w.dir, "hamlet.log"))
	if err != nil {
		return err
	}
	args := []string{"serve", "-c", conf, "--data", filepath.Join(w.dir, "hamlet-data"), "--dns", "127.0.0.1:53"}
	if w.o.CPUProfile != "" {
		p, err := filepath.Abs(w.o.CPUProfile)
		if err != nil {
			return err
		}
		args = append(args, "--cpuprofile", p)
	}
	cmd := exec.Command(w.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	w.hamlet = cmd
	w.closers = append(w.closers, func() { stopCmd(cmd, 20*time.Second); logf.Close() })
	if err := mtaenv.WaitTCP(hamletMilter, 30*time.Second); err != nil {
		return fmt.Errorf("did not listen: %w\n%s", err, readFile(filepath.Join(w.dir, "hamlet.log")))
	}
	return mtaenv.WaitTCP(hamletCtrl, 10*time.Second)
}

func stopCmd(cmd *exec.Cmd, d time.Duration) {
	if cmd.Process == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
	}
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// hamletScans is hamlet_scans_total summed over its actions.
func hamletScans() (float64, error) {
	resp, err := http.Get("http://" + hamletCtrl + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	sum := 0.0
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "hamlet_scans_total") {
			continue
		}
		f := strings.Fields(l)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum, nil
}

// startPostfix runs a private Postfix: one smtpd per target on every
// address (without a milter, with hamlet over TCP, with hamlet over its
// unix socket, with rspamd's milter proxy), relaying bench.test to the
// discard transport.
func (w *world) startPostfix() error {
	d := filepath.Join(w.dir, "postfix")
	conf := filepath.Join(d, "conf")
	for _, p := range []string{conf, filepath.Join(d, "spool"), filepath.Join(d, "data")} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
	}
	if err := mtaenv.Run("chown", "postfix", filepath.Join(d, "data")); err != nil {
		return err
	}
	mainCf := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/spool
data_directory = %[1]s/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.bench.test
mydomain = bench.test
myorigin = bench.test
mydestination =
inet_interfaces = all
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = %[2]s
relay_transport = discard:bench
default_transport = discard:bench
alias_maps =
alias_database =
milter_protocol = 6
milter_default_action = tempfail
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
maillog_file_prefixes = %[1]s
maillog_file = %[1]s/maillog
`, d, rcptDomain)
	if err := os.WriteFile(filepath.Join(conf, "main.cf"), []byte(mainCf), 0o644); err != nil {
		return err
	}
	master, err := os.ReadFile("/usr/share/postfix/master.cf.dist")
	if err != nil {
		if master, err = os.ReadFile("/etc/postfix/master.cf"); err != nil {
			return err
		}
	}
	// One smtpd per Postfix target (postfixPorts), with its milter.
	milters := map[string]string{
		"postfix":          "",
		"hamlet":           "inet:" + hamletMilter,
		"hamlet-unix":      "unix:" + w.milterSocket(),
		"rspamd":           "inet:" + rspamdMilter,
		"rspamd-unix":      "unix:" + w.rspamdSocket(),
		"null-milter":      "inet:" + nullAddr,
		"null-milter-unix": "unix:" + w.nullSocket(),
	}
	var out []string
	for _, l := range strings.Split(string(master), "\n") {
		if strings.HasPrefix(l, "smtp ") && strings.Contains(l, " inet ") {
			var svc []string
			for t, m := range milters {
				svc = append(svc, fmt.Sprintf("%d inet n - n - - smtpd -o smtpd_milters=%s", postfixPorts[t], m))
			}
			sort.Strings(svc) // by port: the same master.cf every run
			l = strings.Join(svc, "\n")
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
	w.closers = append(w.closers, func() { exec.Command("postfix", "-c", conf, "stop").Run() })
	w.postfixConf, w.maillog = conf, filepath.Join(d, "maillog")
	if err := mtaenv.WaitTCP(fmt.Sprintf("%s:%d", clientIP(0), postfixPorts["postfix"]), 20*time.Second); err != nil {
		return err
	}
	pid, err := os.ReadFile(filepath.Join(d, "spool", "pid", "master.pid"))
	if err != nil {
		return err
	}
	w.postfixPID, err = strconv.Atoi(strings.TrimSpace(string(pid)))
	return err
}

// postfixSent counts the deliveries Postfix logged.
func (w *world) postfixSent() int {
	b, _ := os.ReadFile(w.maillog)
	return bytes.Count(b, []byte(" status=sent "))
}

// startRspamd runs rspamd 3.4 with its proxy worker in milter mode
// scanning by itself (self_scan), the way rspamd's Postfix guide sets it
// up, with the same DNS and two processes as hamlet has two cores.
func (w *world) startRspamd() error {
	root := filepath.Join(w.dir, "rspamd")
	files := map[string]string{
		"local/override.d/worker-normal.inc":     "enabled = false;\n",
		"local/override.d/worker-controller.inc": "enabled = false;\n",
		"local/override.d/worker-proxy.inc": fmt.Sprintf(`milter = yes;
bind_socket = "%s";
bind_socket = "%s mode=0666";
count = 2;
timeout = 120s;
upstream "local" { default = yes; self_scan = yes; }
`, rspamdMilter, w.rspamdSocket()),
		"local/local.d/options.inc":      "dns { nameserver = [\"127.0.0.1:53\"]; timeout = 1s; retransmits = 1; }\n",
		"local/local.d/fuzzy_check.conf": "enabled = false;\n",
		"local/local.d/logging.inc":      "level = \"error\";\n",
	}
	for name, text := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return err
		}
	}
	for _, d := range []string{"db", "run", "log"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	if u, err := user.Lookup("_rspamd"); err == nil {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		filepath.Walk(root, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, uid, gid) })
	}
	cmd := exec.Command(rspamdBin, "-f", "-c", "/etc/rspamd/rspamd.conf", "-u", "_rspamd", "-g", "_rspamd",
		"--var=LOCAL_CONFDIR="+filepath.Join(root, "local"), "--var=DBDIR="+filepath.Join(root, "db"),
		"--var=RUNDIR="+filepath.Join(root, "run"), "--var=LOGDIR="+filepath.Join(root, "log"))
	if err := cmd.Start(); err != nil {
		return err
	}
	w.rspamd = cmd
	w.closers = append(w.closers, func() { stopCmd(cmd, 20*time.Second) })
	if err := mtaenv.WaitTCP(rspamdMilter, 180*time.Second); err != nil {
		return fmt.Errorf("%w (log in %s)", err, filepath.Join(root, "log"))
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(w.rspamdSocket()); err == nil {
			break
		} else if time.Now().After(deadline) {
			return fmt.Errorf("rspamd's milter socket: %w (log in %s)", err, filepath.Join(root, "log"))
		}
	}
	return nil
}

// startOpenSMTPD runs OpenSMTPD in the foreground with a listener without
// a filter and one with `hamlet opensmtpd`, relaying to the sink.
func (w *world) startOpenSMTPD() error {
	d := filepath.Join(w.dir, "opensmtpd")
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	conf := fmt.Sprintf(`filter "hamlet" proc-exec "%s opensmtpd --milter %s"
listen on lo port %d
listen on lo port %d filter "hamlet"
action "sink" relay host smtp://%s
match from any for domain "%s" action "sink"
`, w.bin, hamletMilter, smtpdPorts["opensmtpd"], smtpdPorts["opensmtpd-hamlet"], sinkAddr, rcptDomain)
	cmd, logf, err := mtaenv.StartOpenSMTPD(d, conf, filepath.Join(w.dir, "smtpd.log"))
	if err != nil {
		return err
	}
	w.smtpd = cmd
	w.closers = append(w.closers, func() { stopCmd(cmd, 10*time.Second); logf.Close() })
	if err := mtaenv.WaitTCP(fmt.Sprintf("%s:%d", clientIP(0), smtpdPorts["opensmtpd-hamlet"]), 20*time.Second); err != nil {
		return fmt.Errorf("smtpd did not listen: %w\n%s", err, readFile(filepath.Join(w.dir, "smtpd.log")))
	}
	return nil
}
