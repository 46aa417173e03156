package dkim

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/message"
)

// benchBody returns a plain-text body of about size bytes: lines of 60-76
// characters; every 9th indented with a tab, every 5th with a trailing
// space (format=flowed), a double space every 41 words.
func benchBody(size int) string {
	var b strings.Builder
	words := []string{"lorem", "ipsum", "dolor", "sit", "amet,", "consectetur", "adipiscing", "elit.", "Sed", "do", "eiusmod", "tempor"}
	for i := 0; b.Len() < size; i++ {
		if i%9 == 0 {
			b.WriteString("\t")
		}
		line := 0
		for j := i; line < 60; j++ {
			w := words[j%len(words)]
			if line > 0 {
				if j%41 == 0 {
					b.WriteString("  ")
				} else {
					b.WriteString(" ")
				}
			}
			b.WriteString(w)
			line += len(w) + 1
		}
		if i%5 == 0 {
			b.WriteString(" ") // format=flowed style trailing space
		}
		b.WriteString("\r\n")
		if i%12 == 11 {
			b.WriteString("\r\n")
		}
	}
	return b.String()
}

func benchMessage(size int) string {
	head := "From: Joe SixPack <joe@football.example.com>\r\n" +
		"To: Suzie Q <suzie@shopping.example.net>\r\n" +
		"Subject: Is dinner ready?\r\n" +
		"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n" +
		"Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
	return head + benchBody(size-len(head))
}

// BenchmarkVerify measures Verify with the key already cached (a map
// resolver), next to the "floor": one RSA-2048 (or ed25519) verification
// plus SHA-256 over the whole message, the least any verifier must do.
func BenchmarkVerify(b *testing.B) {
	rk, ek := testKeys(b)
	r := &dnstest.Mock{TXT: map[string][]string{
		"rsa._domainkey.example.com": {keyRecord(b, rk, "")},
		"ed._domainkey.example.com":  {keyRecord(b, ek, "")},
	}}
	for _, size := range []int{8 << 10, 100 << 10} {
		raw := benchMessage(size)
		for _, alg := range []struct {
			sel string
			key crypto.Signer
		}{{"rsa", rk}, {"ed", ek}} {
			signed := signMessage(b, raw, SignOptions{Domain: "example.com", Selector: alg.sel, Signer: alg.key})
			msg := message.Parse([]byte(signed))
			if res := Verify(context.Background(), r, msg, nil); res[0].Status != StatusPass {
				b.Fatalf("setup: %s %s", res[0].Status, res[0].Reason)
			}
			name := fmt.Sprintf("%dKB/%s", size>>10, alg.sel)
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(len(signed)))
				b.ReportAllocs()
				for b.Loop() {
					res := Verify(context.Background(), r, msg, nil)
					if res[0].Status != StatusPass {
						b.Fatal(res[0].Reason)
					}
				}
			})
			b.Run(name+"/floor", func(b *testing.B) {
				digest := sha256.Sum256([]byte("header data"))
				sig, err := SignDigest(map[string]Algorithm{"rsa": RSASHA256, "ed": Ed25519SHA256}[alg.sel], alg.key, digest[:])
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(signed)))
				b.ReportAllocs()
				for b.Loop() {
					h := sha256.Sum256(msg.Raw)
					_ = h
					switch k := alg.key.Public().(type) {
					case *rsa.PublicKey:
						if rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig) != nil {
							b.Fatal("floor verify")
						}
					case ed25519.PublicKey:
						if !ed25519.Verify(k, digest[:], sig) {
							b.Fatal("floor verify")
						}
					}
				}
			})
		}
	}
}

// BenchmarkBodyHash isolates body canonicalization + hashing.
func BenchmarkBodyHash(b *testing.B) {
	body := []byte(benchBody(100 << 10))
	for _, c := range []Canon{Simple, Relaxed} {
		b.Run(c.String(), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				BodyHash(crypto.SHA256, c, body, -1)
			}
		})
	}
}

// BenchmarkSign measures signatures per second on an 8 KB message.
func BenchmarkSign(b *testing.B) {
	rk, ek := testKeys(b)
	msg := message.Parse([]byte(benchMessage(8 << 10)))
	for _, alg := range []struct {
		name string
		key  crypto.Signer
	}{{"rsa2048", rk}, {"ed25519", ek}} {
		b.Run(alg.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Sign(msg, SignOptions{Domain: "example.com", Selector: "s", Signer: alg.key}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sigs/s")
		})
	}
	b.Run("dual", func(b *testing.B) {
		opts := []SignOptions{
			{Domain: "example.com", Selector: "rsa", Signer: rk},
			{Domain: "example.com", Selector: "ed", Signer: ek},
		}
		for b.Loop() {
			if _, err := SignAll(msg, opts); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "messages/s")
	})
}

// BenchmarkVerifyRatio runs Verify and the floor (SHA-256 over the whole
// message plus one public-key verification) alternately in the same loop
// and reports their ratio: on a loaded machine, alternating keeps both
// under the same conditions, so the ratio is steadier than two separate
// ns/op figures.
func BenchmarkVerifyRatio(b *testing.B) {
	rk, ek := testKeys(b)
	r := &dnstest.Mock{TXT: map[string][]string{
		"rsa._domainkey.example.com": {keyRecord(b, rk, "")},
		"ed._domainkey.example.com":  {keyRecord(b, ek, "")},
	}}
	for _, size := range []int{8 << 10, 100 << 10} {
		raw := benchMessage(size)
		for _, alg := range []struct {
			sel string
			a   Algorithm
			key crypto.Signer
		}{{"rsa", RSASHA256, rk}, {"ed", Ed25519SHA256, ek}} {
			signed := signMessage(b, raw, SignOptions{Domain: "example.com", Selector: alg.sel, Signer: alg.key})
			msg := message.Parse([]byte(signed))
			digest := sha256.Sum256([]byte("header data"))
			sig, err := SignDigest(alg.a, alg.key, digest[:])
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%dKB/%s", size>>10, alg.sel), func(b *testing.B) {
				var tv, tf time.Duration
				for b.Loop() {
					t0 := time.Now()
					if res := Verify(context.Background(), r, msg, nil); res[0].Status != StatusPass {
						b.Fatal(res[0].Reason)
					}
					t1 := time.Now()
					h := sha256.Sum256(msg.Raw)
					_ = h
					if err := VerifyDigest(alg.a, alg.key.Public(), digest[:], sig); err != nil {
						b.Fatal(err)
					}
					tf += time.Since(t1)
					tv += t1.Sub(t0)
				}
				b.ReportMetric(float64(tv.Nanoseconds())/float64(b.N), "verify-ns/op")
				b.ReportMetric(float64(tf.Nanoseconds())/float64(b.N), "floor-ns/op")
				b.ReportMetric(float64(tv)/float64(tf), "ratio")
			})
		}
	}
}

// BenchmarkRelaxedOverhead alternates relaxed and simple body hashing of
// the same 100 KB body and reports relaxed/simple: what the relaxed scan
// adds to the hash.
func BenchmarkRelaxedOverhead(b *testing.B) {
	body := []byte(benchBody(100 << 10))
	var tr, ts time.Duration
	for b.Loop() {
		t0 := time.Now()
		BodyHash(crypto.SHA256, Relaxed, body, -1)
		t1 := time.Now()
		BodyHash(crypto.SHA256, Simple, body, -1)
		ts += time.Since(t1)
		tr += t1.Sub(t0)
	}
	b.ReportMetric(float64(tr)/float64(ts), "relaxed/simple")
}
