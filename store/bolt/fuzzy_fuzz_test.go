package bolt

import (
	"bytes"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/store"
)

// The fuzzy and replay records are read from disk: a damaged one must
// decode to a value that encodes back to the same bytes, or be refused;
// never a panic.
func FuzzDecodeFuzzyReplay(f *testing.F) {
	f.Add(encodeFuzzy(fuzzyRec{FuzzyEntry: store.FuzzyEntry{Flag: 1, Value: 5, Added: time.Unix(1e9, 0), Updated: time.Unix(1e9+5, 0)}, shingles: []uint64{1, 2}}))
	f.Add(encodeReplay(replayRec{first: 1e12, expires: 2e12, messages: 3, nets: []uint64{7}, rcpts: []uint64{8, 9}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, ok := decodeFuzzy([]byte("d"), b); ok {
			if got := encodeFuzzy(r); !bytes.Equal(got, b) {
				t.Fatalf("fuzzy round trip: %x → %+v → %x", b, r, got)
			}
		}
		if r, ok := decodeReplay(b); ok {
			if got := encodeReplay(r); !bytes.Equal(got, b) {
				t.Fatalf("replay round trip: %x → %+v → %x", b, r, got)
			}
		}
	})
}
