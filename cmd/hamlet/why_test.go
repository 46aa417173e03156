package main

import (
	"bytes"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWhyCommand scans a message with a queue id through a running
// daemon and asks `hamlet why` about it.
func TestWhyCommand(t *testing.T) {
	cfg := writeConfig(t, loopbackConfig+"[symbols]\nMIME_MALFORMED = 20\n")
	d := startServe(t, "-c", cfg, "--data", t.TempDir())
	req, _ := http.NewRequest("POST", "http://"+d.addrs["scan"]+"/checkv2", strings.NewReader("From: a@example.org\r\nSubject: no body separator"))
	req.Header.Set("Queue-Id", "4XyZ12")
	req.Header.Set("IP", "192.0.2.1")
	req.Header.Set("From", "a@example.org")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ctl := "http://" + d.addrs["controller"]
	var out, errb bytes.Buffer
	deadline := time.Now().Add(10 * time.Second)
	for {
		out.Reset()
		errb.Reset()
		if code := run([]string{"why", "--controller", ctl, "4XyZ12"}, nil, &out, &errb); code == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // the history is written in the background
	}
	for _, want := range []string{"queue id 4XyZ12", "Reject with a score of", "MIME_MALFORMED added 20.00", "reached the reject threshold (15.00)", "Without MIME_MALFORMED this would have been no action"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("hamlet why lacks %q:\n%s%s", want, out.String(), errb.String())
		}
	}
	if code := run([]string{"why", "--controller", ctl, "NOPE"}, nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), "no message") {
		t.Errorf("unknown queue id: exit %d, %s", code, errb.String())
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.wait(t)
}
