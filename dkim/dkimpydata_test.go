package dkim

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/message"
)

// TestDkimpyData verifies the signed messages of dkimpy's test data (see
// its SOURCE.md: both signatures of rfc6376.signed.msg pass) and parses its
// key records, good and bad.
func TestDkimpyData(t *testing.T) {
	dir := conformanceDir(t, "dkim/dkimpy/data")
	r := zoneMock(t, filepath.Join(conformanceDir(t, "dkim/rfc"), "keys.zone"))
	for _, tc := range []struct {
		file string
		want []Status
	}{
		{"rfc6376.signed.msg", []Status{StatusPass, StatusPass}},
		{"rfc6376.signed.rsa.msg", []Status{StatusPass}},
	} {
		res := Verify(context.Background(), r, message.Parse(readFile(t, filepath.Join(dir, tc.file))), nil)
		if len(res) != len(tc.want) {
			t.Fatalf("%s: %d results", tc.file, len(res))
		}
		for i, w := range tc.want {
			if res[i].Status != w {
				t.Errorf("%s sig %d (%s): %s %s", tc.file, i, res[i].Algorithm, res[i].Status, res[i].Reason)
			}
		}
	}
	for _, tc := range []struct {
		file    string
		ok      bool
		keyType string
		bits    int
	}{
		{"test.txt", true, "rsa", 1024},
		{"test2.txt", true, "rsa", 1024},
		{"ed25519test.dns", true, "ed25519", 256},
		{"eximtest.dns", true, "ed25519", 256},
		{"1024_testkey_wo_markers.pub.txt", true, "rsa", 1024},
		{"2048_testkey_wo_markers.pub.txt", true, "rsa", 2048},
		{"2048_testkey_wo_markers.pub.rsa.txt", true, "rsa", 2048}, // PKCS#1
		{"badk.txt", false, "", 0},                                 // k=ed25519-sha256 is no key type
		{"badversion.txt", false, "", 0},                           // v=DKIM1: with a colon
		{"test_bad.txt", false, "", 0},                             // damaged p=
	} {
		raw := strings.TrimSpace(string(readFile(t, filepath.Join(dir, tc.file))))
		if !strings.Contains(raw, "p=") {
			raw = "p=" + raw // bare base64 key files
		}
		k, err := ParseKey(raw)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err=%v, want ok=%v", tc.file, err, tc.ok)
			continue
		}
		if err == nil && (k.KeyType != tc.keyType || k.Bits != tc.bits) {
			t.Errorf("%s: %s/%d, want %s/%d", tc.file, k.KeyType, k.Bits, tc.keyType, tc.bits)
		}
	}
}
