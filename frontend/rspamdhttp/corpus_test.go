package rspamdhttp

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/internal/sharedtest"
)

// corpusDir returns the shared message corpus, read in place.
func corpusDir(t *testing.T) string { return sharedtest.Dir(t, "corpus") }

// TestCorpus posts every message of the shared corpus to /checkv2 and
// checks that each gets a well-formed verdict.
func TestCorpus(t *testing.T) {
	dir := corpusDir(t)
	e := testEngine(t)
	h := New(func() *engine.Engine { return e }, Config{}, quietLogger())
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".md") {
			return err
		}
		msg, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		rel, _ := filepath.Rel(dir, path)
		r := httptest.NewRequest(http.MethodPost, "/checkv2", bytes.NewReader(msg))
		r.Header = envelope()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			t.Errorf("%s: status %d %s", rel, w.Code, w.Body)
			return nil
		}
		var got reply
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		if _, ok := engine.ParseAction(got.Action); !ok || got.MessageID == "" || got.Symbols["TEST_ENVELOPE"].Name == "" {
			t.Errorf("%s: incomplete reply %s", rel, w.Body)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("no messages in %s", dir)
	}
	t.Logf("%d corpus messages scanned", n)
}
