package content

import (
	"bytes"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/internal/sharedtest"
)

// xzLZMA compresses data with Debian's xz (xz-utils) in the .lzma
// ("LZMA alone") format and returns the coder properties and the raw
// LZMA stream, as a 7z header coder carries them. Without xz the test
// skips, and fails under CI=true.
func xzLZMA(t testing.TB, data []byte) (props, stream []byte) {
	t.Helper()
	xz := sharedtest.Require(t, "xz", "xz-utils")
	cmd := exec.Command(xz, "--format=lzma", "-c")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil || len(out) < 13 {
		t.Fatalf("xz: %v", err)
	}
	// .lzma: 5 bytes of properties, 8 bytes of size, the stream.
	return out[:5], out[13:]
}

func TestLZMA(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 20000)
	for i := range random {
		random[i] = byte(rnd.Uint32())
	}
	tests := map[string][]byte{
		"empty":    {},
		"one byte": {'x'},
		"text":     []byte(strings.Repeat("The quick brown fox jumps over the lazy dog. ", 500)),
		"random":   random,
		"zeros":    make([]byte, 100000),
		"mixed":    append(append([]byte(strings.Repeat("abcabcabd", 300)), random[:3000]...), random[:3000]...),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			props, stream := xzLZMA(t, data)
			got, err := lzmaDecode(props, stream, len(data))
			if err != nil {
				t.Fatalf("decode: %v (%d of %d bytes)", err, len(got), len(data))
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("decoded %d bytes, differ from the %d written", len(got), len(data))
			}
			// A bound below the size stops there.
			if len(data) > 10 {
				got, _ := lzmaDecode(props, stream, 10)
				if !bytes.Equal(got, data[:10]) {
					t.Fatalf("bounded decode %q", got)
				}
			}
			// Truncated or damaged streams give an error or short output, never a panic.
			if len(stream) > 20 {
				if got, err := lzmaDecode(props, stream[:len(stream)/2], len(data)); err == nil && bytes.Equal(got, data) {
					t.Fatal("half a stream decoded whole")
				}
				bad := bytes.Clone(stream)
				bad[len(bad)/3] ^= 0x55
				lzmaDecode(props, bad, len(data))
			}
		})
	}
	if _, err := lzmaDecode([]byte{225, 0, 0, 1, 0}, []byte{0, 0, 0, 0, 0}, 10); err == nil {
		t.Error("bad properties accepted")
	}
	// lc=8, lp=4 (a 6 MB literal table) is refused.
	if _, err := lzmaDecode([]byte{8 + 9*4, 0, 0, 1, 0}, []byte{0, 0, 0, 0, 0}, 10); err == nil {
		t.Error("lc+lp > 4 accepted")
	}
}
