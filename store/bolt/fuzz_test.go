package bolt

import (
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/store"
)

// The decoders read what is on disk: a damaged file must give an error or
// a value, never a panic.
func FuzzDecode(f *testing.F) {
	e := store.GreylistEntry{FirstSeen: time.UnixMilli(1e12), LastSeen: time.UnixMilli(1e12 + 5), Blocked: 2, Expires: time.UnixMilli(2e12)}
	f.Add(encodeGreylist(e))
	f.Add(encodeCounter(store.Counter{Value: 3, Last: time.UnixMilli(1e12), Expires: time.UnixMilli(2e12)}))
	f.Add([]byte{})
	f.Add([]byte{1, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		if e, err := decodeGreylist("k", b); err == nil {
			if got, err := decodeGreylist("k", encodeGreylist(e)); err != nil || got != e {
				t.Fatalf("greylist round trip: %+v → %+v, %v", e, got, err)
			}
		}
		if c, ok := decodeCounter(b); ok {
			if got, ok := decodeCounter(encodeCounter(c)); !ok || got != c {
				t.Fatalf("counter round trip: %+v → %+v", c, got)
			}
		}
		keyTime(b)
	})
}
