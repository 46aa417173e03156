// Package rspamdtest starts Debian's rspamd 3.4 on loopback with a
// private configuration (one normal worker pool on a free port, no
// controller or proxy, fuzzy checks off, DNS from a given server) and
// asks it for verdicts over its HTTP protocol (POST /checkv2). The
// benchmark (bench/compare) and the evaluation (bench/eval) use it to run
// rspamd against the same DNS and messages as hamlet.
//
// rspamd drops its privileges to _rspamd: starting it needs root.
package rspamdtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"time"
)

// Bin is where Debian's package installs rspamd.
const Bin = "/usr/bin/rspamd"

// Options configure Start.
type Options struct {
	Bin     string // rspamd binary; "" is Bin
	Dir     string // a directory of its own: configuration, database, logs
	DNS     string // "host:port" of the DNS server rspamd asks
	Workers int    // normal workers; 0 is 1
	// Antivirus, when not "", is the text of local.d/antivirus.conf
	// (see ClamAV).
	Antivirus string
}

// Server is a running rspamd.
type Server struct {
	URL string // http://127.0.0.1:port
	Log string // its log directory
	cmd *exec.Cmd
}

// ClamAV is rspamd's antivirus configuration for the clamd on the unix
// socket: symbol CLAM_VIRUS, action reject, the whole message in one
// stream as hamlet sends it (rspamd's default would send each attachment).
func ClamAV(socket string) string {
	return fmt.Sprintf("clamav {\n  type = \"clamav\";\n  servers = \"%s\";\n  symbol = \"CLAM_VIRUS\";\n  action = \"reject\";\n  scan_mime_parts = false;\n}\n", socket)
}

// Start writes the configuration under o.Dir, starts rspamd and waits
// until it answers /ping (it compiles its rules first: up to 3 minutes
// on a loaded machine).
func Start(o Options) (*Server, error) {
	if o.Bin == "" {
		o.Bin = Bin
	}
	if o.Workers <= 0 {
		o.Workers = 1
	}
	if _, err := os.Stat(o.Bin); err != nil {
		return nil, fmt.Errorf("%s not installed (apt-get install rspamd): %w", o.Bin, err)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	root := filepath.Join(o.Dir, "rspamd")
	files := map[string]string{
		"local/override.d/worker-normal.inc":     fmt.Sprintf("bind_socket = \"127.0.0.1:%d\";\ncount = %d;\n", port, o.Workers),
		"local/override.d/worker-controller.inc": "enabled = false;\n",
		"local/override.d/worker-proxy.inc":      "enabled = false;\n",
		"local/local.d/options.inc":              fmt.Sprintf("dns { nameserver = [\"%s\"]; timeout = 1s; retransmits = 1; }\n", o.DNS),
		"local/local.d/fuzzy_check.conf":         "enabled = false;\n",
		"local/local.d/logging.inc":              "level = \"error\";\n",
	}
	if o.Antivirus != "" {
		files["local/local.d/antivirus.conf"] = o.Antivirus
	}
	for name, text := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return nil, err
		}
	}
	for _, d := range []string{"db", "run", "log"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, err
		}
	}
	if u, err := user.Lookup("_rspamd"); err == nil {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		filepath.Walk(root, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, uid, gid) })
		os.Chmod(o.Dir, 0o755)
	}
	cmd := exec.Command(o.Bin, "-f", "-c", "/etc/rspamd/rspamd.conf", "-u", "_rspamd", "-g", "_rspamd",
		"--var=LOCAL_CONFDIR="+filepath.Join(root, "local"), "--var=DBDIR="+filepath.Join(root, "db"),
		"--var=RUNDIR="+filepath.Join(root, "run"), "--var=LOGDIR="+filepath.Join(root, "log"))
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{URL: "http://127.0.0.1:" + strconv.Itoa(port), Log: filepath.Join(root, "log"), cmd: cmd}
	if err := WaitPing(s.URL, 180*time.Second); err != nil {
		s.Stop()
		return nil, fmt.Errorf("%w (log in %s)", err, s.Log)
	}
	return s, nil
}

// Stop stops rspamd and waits for it.
func (s *Server) Stop() {
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()
}

// FreePort is a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// WaitPing waits up to d until the scanner at url answers GET /ping with
// 200 (rspamd and hamlet both do).
func WaitPing(url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer /ping within %v", url, d)
}

// Envelope is what the MTA tells the scanner about a message: the
// request headers of rspamd's protocol (IP, Helo, Hostname, From, Rcpt,
// Queue-Id). Empty fields are not sent.
type Envelope struct {
	IP       string
	Helo     string
	Hostname string // the client's confirmed PTR name
	From     string // MAIL FROM
	Rcpts    []string
	QueueID  string
}

// Symbol is one symbol of a reply.
type Symbol struct {
	Name    string   `json:"name"`
	Score   float64  `json:"score"`
	Options []string `json:"options"`
}

// Reply is the part of a /checkv2 answer the tools read.
type Reply struct {
	Action  string            `json:"action"`
	Score   float64           `json:"score"`
	Symbols map[string]Symbol `json:"symbols"`
}

// Sorted is the reply's symbols by name.
func (r *Reply) Sorted() []Symbol {
	out := make([]Symbol, 0, len(r.Symbols))
	for _, s := range r.Symbols {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Check posts the raw message to url's /checkv2 with the envelope and
// decodes the verdict.
func Check(ctx context.Context, client *http.Client, url string, raw []byte, env Envelope) (*Reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/checkv2", bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	for k, v := range map[string]string{"IP": env.IP, "Helo": env.Helo, "Hostname": env.Hostname, "From": env.From, "Queue-Id": env.QueueID} {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	for _, r := range env.Rcpts {
		req.Header.Add("Rcpt", r)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("rspamd: status %d: %.200s", resp.StatusCode, body)
	}
	var r Reply
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("rspamd: reply: %w", err)
	}
	return &r, nil
}
