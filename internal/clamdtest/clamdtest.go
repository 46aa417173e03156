// Package clamdtest starts a real clamd (Debian's clamav-daemon) for a
// test, on a private unix socket (and optionally a loopback TCP port),
// with a signature database the test writes itself: one pattern
// signature for the EICAR test string. Nothing is downloaded.
package clamdtest

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/clamd"
	"github.com/hamlet-mail/hamlet/internal/sharedtest"
)

// EICAR is the anti-virus test string (https://www.eicar.org): harmless,
// and what the database written here detects.
const EICAR = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// Signature is the name clamd reports for EICAR with this database
// (clamd adds ".UNOFFICIAL" to signatures of a database it did not ship).
const Signature = "Hamlet.Test.EICAR.UNOFFICIAL"

// Server is a running clamd.
type Server struct {
	Socket string // unix socket path
	TCP    string // "127.0.0.1:port" when started with TCP, else ""
	cmd    *exec.Cmd
	done   chan struct{}
}

// Start starts clamd and waits until it answers PING. Without clamd on
// PATH the test is skipped, or fails under CI=true. It is stopped when the
// test ends.
func Start(t testing.TB, withTCP bool) *Server {
	t.Helper()
	bin := sharedtest.Require(t, "clamd", "clamav-daemon")
	dir, err := os.MkdirTemp("", "clamdtest")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s, err := Run(bin, dir, withTCP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Run starts the clamd binary bin with its socket, database and log in
// dir, and waits until it answers PING (for programs: the corpus
// evaluation). The caller stops it.
func Run(bin, dir string, withTCP bool) (*Server, error) {
	db := filepath.Join(dir, "db")
	if err := os.MkdirAll(db, 0o755); err != nil {
		return nil, err
	}
	// An extended (.ndb) signature: Name:TargetType:Offset:HexSignature;
	// target 0 is any file, offset * anywhere.
	sig := fmt.Sprintf("Hamlet.Test.EICAR:0:*:%x\n", EICAR)
	if err := os.WriteFile(filepath.Join(db, "hamlet-test.ndb"), []byte(sig), 0o644); err != nil {
		return nil, err
	}
	s := &Server{Socket: filepath.Join(dir, "clamd.sock"), done: make(chan struct{})}
	conf := []string{
		"Foreground yes",
		"LocalSocket " + s.Socket,
		"DatabaseDirectory " + db,
		"LogFile " + filepath.Join(dir, "clamd.log"),
		"PidFile " + filepath.Join(dir, "clamd.pid"),
		"StreamMaxLength 2M",
	}
	if os.Geteuid() == 0 {
		conf = append(conf, "User root")
	}
	if withTCP {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s.TCP = fmt.Sprintf("127.0.0.1:%d", port)
		conf = append(conf, "TCPAddr 127.0.0.1", fmt.Sprintf("TCPSocket %d", port))
	}
	cfile := filepath.Join(dir, "clamd.conf")
	if err := os.WriteFile(cfile, []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bin, "-c", cfile)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	c, _ := clamd.New("unix:" + s.Socket)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx)
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(dir, "clamd.log"))
			return nil, fmt.Errorf("clamd exited: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("clamd did not answer PING within 60 s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop ends clamd (SIGTERM, then SIGKILL) and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGCONT)
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// Pause stops clamd's process (SIGSTOP): it keeps its socket but answers
// nothing, as a clamd stuck on a huge file does. Resume undoes it.
func (s *Server) Pause() { s.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused clamd.
func (s *Server) Resume() { s.cmd.Process.Signal(syscall.SIGCONT) }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Message returns a MIME message with a text part and, when infected, an
// attachment of the EICAR string in base64 (CRLF line ends).
func Message(infected bool) []byte {
	att := "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoK" // a harmless PDF start
	name := "report.pdf"
	if infected {
		att = b64(EICAR)
		name = "invoice.com"
	}
	return []byte("From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: the file\r\n" +
		"Date: " + time.Now().UTC().Format(time.RFC1123Z) + "\r\nMessage-ID: <clamdtest@example.com>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe file you asked for.\r\n" +
		"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"" + name + "\"\r\n\r\n" + att + "\r\n--b1--\r\n")
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
