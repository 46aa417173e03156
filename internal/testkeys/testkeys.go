// Package testkeys gives tests one RSA-2048 and one Ed25519 signing key,
// made once per test binary (an RSA key takes a noticeable time to
// generate on a loaded machine).
package testkeys

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"testing"
)

var (
	once   sync.Once
	rsaK   *rsa.PrivateKey
	edK    ed25519.PrivateKey
	keyErr error
)

// Keys returns the binary's RSA-2048 and Ed25519 keys.
func Keys(t testing.TB) (*rsa.PrivateKey, ed25519.PrivateKey) {
	t.Helper()
	once.Do(func() {
		if rsaK, keyErr = rsa.GenerateKey(rand.Reader, 2048); keyErr != nil {
			return
		}
		_, edK, keyErr = ed25519.GenerateKey(rand.Reader)
	})
	if keyErr != nil {
		t.Fatalf("testkeys: %v", keyErr)
	}
	return rsaK, edK
}
