package dkim

import (
	"path/filepath"
	"testing"

	"github.com/hamlet-mail/hamlet/internal/sharedtest"
	"github.com/hamlet-mail/hamlet/message"
)

// TestCorpusBodyHashes recomputes bh= of the DKIM-signed messages in the
// shared SpamAssassin fixtures (real signers, no DNS needed for the body
// hash): canonicalization on real MIME mail must reproduce them.
func TestCorpusBodyHashes(t *testing.T) {
	dir := sharedtest.Dir(t, "corpus/spamassassin-testdata")
	for _, tc := range []struct {
		file  string
		match bool
	}{
		{"nice/dmarc/noneok.eml", true},
		{"nice/dmarc/quarok.eml", true},
		{"nice/dmarc/rejectok.eml", true},
		{"spam/dmarc/strictrejectko.eml", false}, // body changed after signing
	} {
		msg := message.Parse(readFile(t, filepath.Join(dir, tc.file)))
		fields := msg.Get("DKIM-Signature")
		if len(fields) != 1 {
			t.Fatalf("%s: %d signatures", tc.file, len(fields))
		}
		sig, err := ParseSignature(fields[0].Value())
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		sum, _ := BodyHash(sig.Algorithm.Hash(), sig.BodyCanon, msg.Body, sig.Length)
		if got := string(sum) == string(sig.BodyHash); got != tc.match {
			t.Errorf("%s (%s/%s): body hash match %v, want %v", tc.file, sig.HeaderCanon, sig.BodyCanon, got, tc.match)
		}
	}
}
