package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/internal/mailgen"
	"github.com/hamlet-mail/hamlet/internal/sharedtest"
)

// The Dovecot set-up shipped in packaging/dovecot, end to end: a real
// Dovecot with Pigeonhole (Debian's dovecot-imapd and dovecot-sieve),
// started unprivileged on loopback with the shipped configuration
// snippet, Sieve scripts and pipe program (their /etc paths moved into a
// temporary directory); a real `hamlet serve` with an enable password; an
// IMAP client that moves messages into and out of Junk. hamlet's learned
// counts (GET /stat, as rspamc stat reads them) and its next verdicts
// must follow what the user did.
func TestDovecotIMAPSieveLearning(t *testing.T) {
	dc := startDovecot(t)
	d, _ := startLearningServe(t, "learn-pw", 5)
	ctl := "http://" + d.addrs["controller"]
	curl := sharedtest.Require(t, "curl", "curl")
	dc.learnConf(t, "controller="+ctl, "password_file="+dc.writeFile(t, "etc/hamlet/learn.password", "learn-pw", 0o400), "client=curl", "curl="+curl)

	probeSpam, probeHam := string(mailgen.New(901).Spam(3000)), string(mailgen.New(902).Ham(3000))
	if sym := bayesSymbol(t, d.addrs["scan"], probeSpam); sym != "BAYES_UNTRAINED" {
		t.Fatalf("before any learning the probe gets %s, want BAYES_UNTRAINED", sym)
	}

	im := dc.login(t)
	defer im.close()
	g := mailgen.New(903)
	// The user moves five spam messages from INBOX into Junk at once.
	for range 5 {
		im.append(t, "INBOX", g.Spam(2500))
	}
	im.ok(t, "SELECT INBOX")
	im.ok(t, "MOVE 1:5 Junk")
	waitLearned(t, ctl, "learn-pw", 5, 0)

	// Five ham messages wrongly filed into Junk; the user moves them back
	// to INBOX.
	for range 5 {
		im.append(t, "Junk", g.Ham(2500))
	}
	waitLearned(t, ctl, "learn-pw", 5, 0) // APPEND to Junk teaches nothing
	im.ok(t, "SELECT Junk")
	im.ok(t, "MOVE 6:10 INBOX")
	waitLearned(t, ctl, "learn-pw", 5, 5)

	// Deleting spam from Junk (moving it to Trash) says nothing about it.
	im.ok(t, "MOVE 1 Trash")
	if sp, h := learned(t, ctl, "learn-pw"); sp != 5 || h != 5 {
		t.Fatalf("after Junk → Trash: %d spam, %d ham learned; want 5 and 5 (report-ham.sieve skips Trash)", sp, h)
	}
	if im.status(t, "Junk") != 4 {
		t.Error("Junk should hold the 4 spam left")
	}

	// The next scans of similar messages change.
	if sym := bayesSymbol(t, d.addrs["scan"], probeSpam); sym != "BAYES_SPAM" {
		t.Errorf("a new spam after learning through Dovecot gets %s, want BAYES_SPAM", sym)
	}
	if sym := bayesSymbol(t, d.addrs["scan"], probeHam); sym != "BAYES_HAM" {
		t.Errorf("a new ham after learning through Dovecot gets %s, want BAYES_HAM", sym)
	}

	// rspamc as the client (a Dovecot host without hamlet): the user
	// changes their mind about one ham message (back into Junk: relearned
	// as spam) and about one spam (out of Junk: relearned as ham).
	if rspamc, err := exec.LookPath("rspamc"); err == nil || os.Getenv("CI") == "true" {
		if err != nil {
			t.Fatalf("rspamc is required (Debian package rspamd): %v", err)
		}
		dc.learnConf(t, "controller="+ctl, "password_file="+filepath.Join(dc.dir, "etc/hamlet/learn.password"), "client=rspamc", "rspamc="+rspamc)
		im.ok(t, "SELECT INBOX")
		im.ok(t, "MOVE 1 Junk") // the first ham message
		waitLearned(t, ctl, "learn-pw", 6, 4)
		im.ok(t, "SELECT Junk")
		im.ok(t, "MOVE 1 INBOX") // the oldest spam left in Junk
		waitLearned(t, ctl, "learn-pw", 5, 5)
	} else {
		t.Logf("rspamc not installed: the rspamc client of hamlet-learn is not tested (%v)", err)
	}

	// A wrong password: the move happens, hamlet learns nothing and
	// Dovecot logs why.
	dc.learnConf(t, "controller="+ctl, "password_file="+dc.writeFile(t, "etc/hamlet/wrong.password", "nope", 0o400), "client=curl", "curl="+curl)
	sp0, h0 := learned(t, ctl, "learn-pw")
	im.ok(t, "SELECT INBOX")
	im.ok(t, "MOVE 1 Junk")
	if sp, h := learned(t, ctl, "learn-pw"); sp != sp0 || h != h0 {
		t.Errorf("learned with a wrong password: %d/%d → %d/%d", sp0, h0, sp, h)
	}
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(dc.log(t), "hamlet-learn: learning spam for u1 failed: controller "+ctl+" answered 401"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Dovecot's log does not say that learning failed:\n%s", dc.log(t))
		}
	}
}

// The delivery rule: mail that hamlet tagged "X-Spam: Yes" goes to Junk,
// other mail to INBOX (dovecot-lda with the shipped sieve_before).
func TestDovecotDeliverySpamToJunk(t *testing.T) {
	dc := startDovecot(t)
	lda := sharedtest.RequireProgram(t, "dovecot-lda", "dovecot-core", "/usr/lib/dovecot/dovecot-lda")
	deliver := func(msg string) {
		t.Helper()
		cmd := exec.Command(lda, "-c", dc.conf, "-d", "u1", "-f", "sender@example.com")
		cmd.Stdin = strings.NewReader(msg)
		cmd.SysProcAttr = dc.attr()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("dovecot-lda: %v\n%s\n%s", err, out, dc.log(t))
		}
	}
	spam := strings.Replace(string(mailgen.New(1).Spam(1500)), "\r\n", "\r\nX-Spam: Yes\r\n", 1)
	deliver(spam)
	deliver(string(mailgen.New(2).Ham(1500)))
	deliver(strings.Replace(string(mailgen.New(3).Ham(1500)), "\r\n", "\r\nX-Spam: No\r\n", 1))
	im := dc.login(t)
	defer im.close()
	if n := im.status(t, "Junk"); n != 1 {
		t.Errorf("Junk holds %d messages, want the 1 tagged X-Spam: Yes\n%s", n, dc.log(t))
	}
	if n := im.status(t, "INBOX"); n != 2 {
		t.Errorf("INBOX holds %d messages, want 2", n)
	}
}

// dovecot is a Dovecot started by a test in its own directory.
type dovecot struct {
	dir, conf string
	port      int
	cred      *syscall.Credential
}

// startDovecot starts Dovecot (IMAP on a loopback port) with the shipped
// packaging/dovecot files. As root it runs everything as nobody (Dovecot
// refuses mail users with UID 0); otherwise as the test's user.
func startDovecot(t *testing.T) *dovecot {
	t.Helper()
	bin := sharedtest.RequireProgram(t, "dovecot", "dovecot-imapd", "/usr/sbin/dovecot")
	sharedtest.RequireFile(t, "/usr/lib/dovecot/imap", "dovecot-imapd")
	sharedtest.RequireFile(t, "/usr/lib/dovecot/modules/lib95_imap_sieve_plugin.so", "dovecot-sieve")
	sharedtest.RequireFile(t, "/usr/lib/dovecot/modules/sieve/lib90_sieve_extprograms_plugin.so", "dovecot-sieve")
	dir, err := os.MkdirTemp("", "hamlet-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// Dovecot's user must reach the directory.
		for d := filepath.Dir(dir); d != filepath.Dir(d); d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
				t.Fatalf("%s is not searchable by others: Dovecot, run as nobody, cannot reach %s (set TMPDIR elsewhere)", d, dir)
			}
		}
	}
	dc := &dovecot{dir: dir, conf: filepath.Join(dir, "dovecot.conf")}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Dovecot's log:\n%s", dc.log(t))
		}
	})
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if u, err = user.Lookup("nobody"); err != nil {
			t.Fatalf("running as root, Dovecot needs an unprivileged user: %v", err)
		}
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if os.Geteuid() == 0 {
		dc.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}

	// The shipped files, their /etc paths moved under dir.
	src := filepath.Join("..", "..", "packaging", "dovecot")
	etc := filepath.Join(dir, "etc") + "/"
	for name, dst := range map[string]string{
		"90-hamlet-learn.conf": "etc/dovecot/conf.d/90-hamlet-learn.conf",
		"report-spam.sieve":    "etc/dovecot/sieve/report-spam.sieve",
		"report-ham.sieve":     "etc/dovecot/sieve/report-ham.sieve",
		"spam-to-junk.sieve":   "etc/dovecot/sieve/spam-to-junk.sieve",
		"hamlet-learn":         "etc/dovecot/sieve-pipe/hamlet-learn",
	} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		mode := fs.FileMode(0o644)
		if name == "hamlet-learn" {
			mode = 0o755
		}
		dc.writeFile(t, dst, strings.ReplaceAll(string(b), "/etc/", etc), mode)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dc.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dc.writeFile(t, "users", fmt.Sprintf("u1:{PLAIN}pw:%d:%d::%s/mail/u1\n", uid, gid, dir), 0o644)
	dc.writeFile(t, "dovecot.conf", fmt.Sprintf(`# written by TestDovecot*
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
default_internal_user = %[2]s
default_internal_group = %[3]s
default_login_user = %[2]s
first_valid_uid = 1
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/users
}
userdb {
  driver = passwd-file
  args = username_format=%%u %[1]s/users
}
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  mailbox Junk {
    auto = create
    special_use = \Junk
  }
  mailbox Trash {
    auto = create
    special_use = \Trash
  }
}
# Unprivileged: no chroots, no imaps.
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = %[4]d
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
service pop3-login {
  chroot =
}
service submission-login {
  chroot =
}
service imap-urlauth-login {
  chroot =
}
!include %[1]s/etc/dovecot/conf.d/90-hamlet-learn.conf
`, dir, u.Username, g.Name, dc.port), 0o644)
	for _, d := range []string{"run", "state", "mail", "etc/hamlet"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	if dc.cred != nil {
		filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
			if err == nil {
				err = os.Lchown(p, uid, gid)
			}
			return err
		})
	}

	// The README's install step: compile the scripts (sievec knows the
	// extensions from the same configuration).
	sievec := sharedtest.RequireProgram(t, "sievec", "dovecot-sieve", "/usr/bin/sievec")
	for _, f := range []string{"report-spam", "report-ham", "spam-to-junk"} {
		c := exec.Command(sievec, "-c", dc.conf, filepath.Join(dir, "etc/dovecot/sieve", f+".sieve"))
		c.SysProcAttr = dc.attr()
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("sievec %s: %v\n%s", f, err, out)
		}
	}

	cmd := exec.Command(bin, "-F", "-c", dc.conf)
	cmd.SysProcAttr = dc.attr()
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", dc.port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("dovecot exited: %v\n%s\n%s", err, out, dc.log(t))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("dovecot does not listen on %d\n%s\n%s", dc.port, out, dc.log(t))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return dc
}

// attr runs a child as Dovecot's user.
func (dc *dovecot) attr() *syscall.SysProcAttr {
	if dc.cred == nil {
		return nil
	}
	return &syscall.SysProcAttr{Credential: dc.cred}
}

// writeFile writes rel under the directory (owned by Dovecot's user) and
// returns its path.
func (dc *dovecot) writeFile(t *testing.T, rel, text string, mode fs.FileMode) string {
	t.Helper()
	p := filepath.Join(dc.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Remove(p)
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if dc.cred != nil {
		os.Chown(p, int(dc.cred.Uid), int(dc.cred.Gid))
	}
	return p
}

// learnConf writes hamlet-learn's settings file.
func (dc *dovecot) learnConf(t *testing.T, lines ...string) {
	dc.writeFile(t, "etc/hamlet/dovecot-learn.conf", strings.Join(lines, "\n")+"\n", 0o644)
}

func (dc *dovecot) log(t *testing.T) string {
	b, _ := os.ReadFile(filepath.Join(dc.dir, "dovecot.log"))
	return string(b)
}

// imapConn is the little IMAP4rev1 (RFC 3501) client the tests need:
// LOGIN, APPEND, SELECT, MOVE (RFC 6851), STATUS.
type imapConn struct {
	c   net.Conn
	r   *bufio.Reader
	tag int
}

func (dc *dovecot) login(t *testing.T) *imapConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", dc.port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	im := &imapConn{c: c, r: bufio.NewReader(c)}
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	if line, err := im.r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "* OK") {
		t.Fatalf("IMAP greeting %q: %v", line, err)
	}
	im.ok(t, "LOGIN u1 pw")
	return im
}

func (im *imapConn) close() {
	fmt.Fprintf(im.c, "Z LOGOUT\r\n")
	im.c.Close()
}

// cmd sends a command and returns its untagged lines and the tagged
// status line.
func (im *imapConn) cmd(t *testing.T, command string) (untagged []string, status string) {
	t.Helper()
	im.tag++
	tag := fmt.Sprintf("A%d", im.tag)
	if _, err := fmt.Fprintf(im.c, "%s %s\r\n", tag, command); err != nil {
		t.Fatal(err)
	}
	return im.read(t, tag)
}

func (im *imapConn) read(t *testing.T, tag string) (untagged []string, status string) {
	t.Helper()
	for {
		line, err := im.r.ReadString('\n')
		if err != nil {
			t.Fatalf("IMAP: %v", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if rest, ok := strings.CutPrefix(line, tag+" "); ok {
			return untagged, rest
		}
		untagged = append(untagged, line)
	}
}

// ok runs command and fails the test unless it ends in OK.
func (im *imapConn) ok(t *testing.T, command string) []string {
	t.Helper()
	u, st := im.cmd(t, command)
	if !strings.HasPrefix(st, "OK") {
		t.Fatalf("IMAP %s: %s %v", command, st, u)
	}
	return u
}

// append stores msg in mailbox (a synchronizing literal, RFC 3501 4.3).
func (im *imapConn) append(t *testing.T, mailbox string, msg []byte) {
	t.Helper()
	im.tag++
	tag := fmt.Sprintf("A%d", im.tag)
	fmt.Fprintf(im.c, "%s APPEND %s {%d}\r\n", tag, mailbox, len(msg))
	line, err := im.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "+") {
		t.Fatalf("APPEND: no continuation: %q %v", line, err)
	}
	im.c.Write(msg)
	io.WriteString(im.c, "\r\n")
	if _, st := im.read(t, tag); !strings.HasPrefix(st, "OK") {
		t.Fatalf("APPEND %s: %s", mailbox, st)
	}
}

// status is the number of messages in mailbox.
func (im *imapConn) status(t *testing.T, mailbox string) int {
	t.Helper()
	for _, l := range im.ok(t, "STATUS "+mailbox+" (MESSAGES)") {
		if _, after, ok := strings.Cut(l, "(MESSAGES "); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(after, ")"))
			if err != nil {
				t.Fatalf("STATUS: %q", l)
			}
			return n
		}
	}
	t.Fatalf("STATUS %s: no MESSAGES", mailbox)
	return 0
}

// learned reads the learned counts from GET /stat (rspamd's statfiles),
// as hamlet learn --controller does.
func learned(t *testing.T, ctl, password string) (spam, ham int64) {
	t.Helper()
	l := &httpLearner{base: ctl, password: password, client: &http.Client{Timeout: 10 * time.Second}}
	st, err := l.stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Spam, st.Ham
}

// waitLearned waits (bounded) until /stat shows spam and ham learned.
func waitLearned(t *testing.T, ctl, password string, spam, ham int64) {
	t.Helper()
	var sp, h int64
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if sp, h = learned(t, ctl, password); sp == spam && h == ham {
			return
		}
	}
	t.Fatalf("hamlet learned %d spam and %d ham, want %d and %d", sp, h, spam, ham)
}

// bayesSymbol scans msg through /checkv2 and returns its BAYES_* symbol.
func bayesSymbol(t *testing.T, scan, msg string) string {
	t.Helper()
	resp, err := http.Post("http://"+scan+"/checkv2", "message/rfc822", strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Symbols map[string]json.RawMessage `json:"symbols"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/checkv2: %s %v", resp.Status, err)
	}
	found := ""
	for name, v := range r.Symbols {
		if strings.HasPrefix(name, "BAYES_") {
			found += name
			t.Logf("%s: %s", name, v)
		}
	}
	return found
}
