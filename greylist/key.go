package greylist

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/hamlet-mail/hamlet/store"
)

// Network sizes that make up a client network: senders' pools hand a retry
// to a neighbour address, so the key holds the network, not the address
// (postgrey's --lookup-by-subnet; rspamd uses /19 for IPv4).
const (
	NetBits4 = 24
	NetBits6 = 64
)

// ClientNet returns the client network of ip: its /24 (IPv4, also for
// IPv4-mapped IPv6) or /64 (IPv6).
func ClientNet(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap()
	bits := NetBits6
	if ip.Is4() {
		bits = NetBits4
	}
	p, _ := ip.Prefix(bits)
	return p
}

// NormalizeSender returns the envelope sender as the greylist key holds
// it: lower case, BATV and SRS wrappings removed, "+extension" stripped,
// so that the per-message tags of bounce-address schemes do not make each
// retry a new sender. The null sender is "<>".
func NormalizeSender(addr string) string {
	addr = lower(strings.TrimSpace(addr))
	addr = strings.TrimSuffix(strings.TrimPrefix(addr, "<"), ">")
	if addr == "" {
		return "<>"
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return lower(stripExt(stripBATV(addr)))
	}
	local, domain := addr[:at], strings.TrimSuffix(addr[at+1:], ".")
	if l, d, ok := decodeSRS(local); ok {
		local, domain = l, d
	}
	local = stripExt(stripBATV(local))
	// Lower-case again: cutting away bytes that were not UTF-8 may have
	// left valid UTF-8 that the first pass kept as it was.
	return lower(local + "@" + domain)
}

// lower lower-cases s; bytes that are not UTF-8 are kept as they are
// (strings.ToLower would turn each into a 3-byte U+FFFD and make distinct
// senders one).
func lower(s string) string {
	if utf8.ValidString(s) {
		return strings.ToLower(s)
	}
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// stripBATV removes a BATV tag (draft-levine-smtp-batv-01 §4: tag-type "="
// tag-val "=" loc-core, tag-type "prvs"; Microsoft's "msprvs1" likewise).
func stripBATV(local string) string {
	for _, tt := range []string{"prvs=", "msprvs1="} {
		if rest, ok := strings.CutPrefix(local, tt); ok {
			if _, core, ok := strings.Cut(rest, "="); ok && core != "" {
				return core
			}
		}
	}
	return local
}

// decodeSRS returns the original address wrapped by the Sender Rewriting
// Scheme: SRS0=HHH=TT=domain=local@forwarder, and
// SRS1=HHH=forwarder==HHH=TT=domain=local@forwarder2 (the first separator
// may also be "+" or "-", as libsrs2 writes it).
func decodeSRS(local string) (l, d string, ok bool) {
	if len(local) < 5 {
		return "", "", false
	}
	switch local[:4] {
	case "srs0":
		rest := local[5:]
		if !strings.ContainsRune("=+-", rune(local[4])) {
			return "", "", false
		}
		return srs0Fields(rest)
	case "srs1":
		if !strings.ContainsRune("=+-", rune(local[4])) {
			return "", "", false
		}
		_, inner, found := strings.Cut(local[5:], "==")
		if !found {
			return "", "", false
		}
		return srs0Fields(inner)
	}
	return "", "", false
}

// srs0Fields splits HHH=TT=domain=local.
func srs0Fields(s string) (string, string, bool) {
	f := strings.SplitN(s, "=", 4)
	if len(f) != 4 || f[2] == "" || f[3] == "" {
		return "", "", false
	}
	return f[3], f[2], true
}

// stripExt removes a "+extension" (RFC 5233 subaddress); a local part
// that starts with "+" is kept whole.
func stripExt(local string) string {
	if i := strings.IndexByte(local, '+'); i > 0 {
		return local[:i]
	}
	return local
}

// NormalizeRcpt lower-cases a recipient; its extension is kept (it is
// ours, and a user may greylist per subaddress).
func NormalizeRcpt(addr string) string {
	addr = lower(strings.TrimSpace(addr))
	return strings.TrimSuffix(strings.TrimPrefix(addr, "<"), ">")
}

// Subject is what identifies the sending side in a key: the SPF-
// authenticated domain when SPF passed, else the client network.
func Subject(ip netip.Addr, spfDomain string) string {
	if d := strings.ToLower(strings.TrimSuffix(spfDomain, ".")); d != "" {
		return "spf:" + d
	}
	return "net:" + ClientNet(ip).String()
}

// Key builds the greylist key "subject|sender|recipient"; a key longer
// than the store allows is hashed.
func Key(subject, sender, rcpt string) string {
	k := subject + "|" + sender + "|" + rcpt
	if len(k) > store.MaxKeyLen {
		h := sha256.Sum256([]byte(k))
		return subject[:min(len(subject), 100)] + "|sha256:" + hex.EncodeToString(h[:])
	}
	return k
}
