package hfilter

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Severity grades how strongly a name suggests a host that should not send
// mail directly: 0 nothing, 1 very low … 5 very hard, the five buckets of
// rspamd's hfilter (HFILTER_HELO_1..5, HFILTER_HOSTNAME_1..5).
type Severity int

// Match is what Classify found in a name.
type Match struct {
	Severity Severity
	// Reasons lists what matched, e.g. "token:dyn", "ip:dashed",
	// "suffix:.local"; the strongest first.
	Reasons []string
}

func (m *Match) add(s Severity, reason string) {
	if s <= 0 {
		return
	}
	if s > m.Severity {
		m.Severity = s
		m.Reasons = append([]string{reason}, m.Reasons...)
		return
	}
	m.Reasons = append(m.Reasons, reason)
}

// Token is one word of the dynamic/residential pattern table. A token
// counts only as a word of its own: bounded on each side by the start or
// end of the name, '.', '-', '_' or a digit ("dyn", "dyn-12", "12dyn";
// not "dynamo"). Word is its severity standing alone ("pool.isp.example"),
// Numbered its severity next to a number ("pool-42", "42.pool"), which is
// how access networks name their customers' addresses.
type Token struct {
	Word     string
	Alone    Severity
	Numbered Severity
	// MinDigits is how many digits the adjacent number needs for
	// Numbered to apply (0 means 1): "client" is common in host names,
	// "client-42" much less.
	MinDigits int
}

// Tokens is the table of words that mark dynamically assigned, residential
// or otherwise end-user addresses in PTR and HELO names, with severities in
// rspamd's five buckets. Names tested against it are listed in
// classify_test.go.
var Tokens = []Token{
	// Dynamic assignment and dial-up access: "very hard".
	{"dynamic", 5, 5, 0}, {"dyn", 5, 5, 0}, {"dynip", 5, 5, 0}, {"dhcp", 5, 5, 0},
	{"dialup", 5, 5, 0}, {"dial-up", 5, 5, 0}, {"dial", 4, 5, 0}, {"ppp", 5, 5, 0},
	{"pppoe", 5, 5, 0}, {"pptp", 5, 5, 0}, {"gprs", 5, 5, 0}, {"cdma", 5, 5, 0},
	{"homeuser", 5, 5, 0}, {"catv", 5, 5, 0}, {"wifi", 5, 5, 0}, {"broadband", 5, 5, 0},
	{"bredband", 5, 5, 0}, {"modem", 5, 5, 0}, {"cablemodem", 5, 5, 0},
	{"residential", 5, 5, 0}, {"resident", 5, 5, 0},
	// Consumer access technologies and address pools: "hard".
	{"dsl", 4, 4, 0}, {"adsl", 4, 4, 0}, {"xdsl", 4, 4, 0}, {"vdsl", 4, 4, 0},
	{"sdsl", 4, 4, 0}, {"pool", 4, 4, 0}, {"in-addr", 4, 4, 0}, {"nat", 4, 5, 0},
	{"broad", 4, 5, 0}, {"mobile", 3, 5, 0}, {"wlan", 4, 5, 0}, {"fbx", 4, 4, 0},
	{"ftth", 3, 4, 0}, {"fttx", 3, 4, 0}, {"fttb", 3, 4, 0}, {"res", 3, 4, 0},
	{"home", 2, 4, 0}, {"generic", 3, 4, 0}, {"unassigned", 3, 4, 0},
	// Weaker signs: "medium" and below.
	{"cable", 3, 3, 0}, {"kabel", 3, 3, 0}, {"unused-addr", 3, 3, 0}, {"addr", 2, 3, 0},
	{"host", 2, 2, 0}, {"client", 1, 5, 2}, {"clients", 1, 5, 2},
	{"customer", 1, 1, 0}, {"customers", 1, 1, 0}, {"cust", 1, 3, 0}, {"user", 1, 1, 0},
	{"users", 1, 1, 0}, {"peer", 1, 1, 0},
}

// HeloSuffixes are name endings that only exist on private networks or
// are reserved (RFC 6761, RFC 6762, RFC 8375): a HELO ending so comes from
// a machine that does not know its public name. "Very hard", as rspamd's
// checks_hello table rates them.
var HeloSuffixes = []string{
	".lan", ".local", ".home", ".localdomain", ".intra", ".internal",
	".in-addr.arpa", ".ip6.arpa", ".priv", ".home.arpa", ".localhost",
	".invalid", ".test", ".corp",
}

// Severities of the client address found inside a name.
const (
	sevIPFull  Severity = 4 // all four octets (or the whole IPv6 address)
	sevIPThree Severity = 3 // three consecutive octets
)

func isSep(c byte) bool { return c == '.' || c == '-' || c == '_' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Classify rates name (a PTR or HELO name) for looking like a dynamic or
// residential address: words of the Tokens table, and the client address
// ip embedded in the name in the usual encodings (see EmbedsIP). ip may be
// invalid to skip the address test. Tokens are only looked for in the
// labels left of the last two, so that a domain's own name ("dyn.com",
// "comcast.net") is not taken for a property of the host.
func Classify(name string, ip netip.Addr) Match {
	var m Match
	name = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
	if name == "" {
		return m
	}
	if how := EmbedsIP(name, ip); how != "" {
		sev := sevIPFull
		if strings.HasPrefix(how, "three-") {
			sev = sevIPThree
		}
		m.add(sev, "ip:"+how)
	}
	host := hostPart(name)
	for _, t := range Tokens {
		if sev := matchToken(host, t); sev > 0 {
			m.add(sev, "token:"+t.Word)
		}
	}
	return m
}

// ClassifyHelo is Classify plus the private-suffix table for HELO names.
func ClassifyHelo(helo string, ip netip.Addr) Match {
	m := Classify(helo, ip)
	h := strings.ToLower(strings.TrimSuffix(helo, "."))
	for _, s := range HeloSuffixes {
		if strings.HasSuffix(h, s) || h == s[1:] {
			m.add(5, "suffix:"+s)
			break
		}
	}
	return m
}

// hostPart strips the last two labels of name (the registered domain, to a
// first approximation without a public suffix list). A name of one or two
// labels is returned whole.
func hostPart(name string) string {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return name
	}
	j := strings.LastIndexByte(name[:i], '.')
	if j < 0 {
		return name
	}
	return name[:j]
}

// matchToken returns the severity of the strongest occurrence of t in s.
func matchToken(s string, t Token) Severity {
	var best Severity
	w := t.Word
	for off := 0; off < len(s); {
		k := strings.Index(s[off:], w)
		if k < 0 {
			break
		}
		i := off + k
		j := i + len(w)
		off = i + 1
		leftOK := i == 0 || isSep(s[i-1]) || isDigit(s[i-1])
		rightOK := j == len(s) || isSep(s[j]) || isDigit(s[j])
		if !leftOK || !rightOK {
			continue
		}
		need := max(t.MinDigits, 1)
		numbered := digitsBefore(s, i) >= need || digitsAfter(s, j) >= need
		sev := t.Alone
		if numbered {
			sev = t.Numbered
		}
		if sev > best {
			best = sev
		}
	}
	return best
}

// digitsBefore counts the digits ending at s[i-1], or at s[i-2] when
// s[i-1] is a separator.
func digitsBefore(s string, i int) int {
	if i > 0 && isSep(s[i-1]) {
		i--
	}
	n := 0
	for i > 0 && isDigit(s[i-1]) {
		i--
		n++
	}
	return n
}

// digitsAfter counts the digits starting at s[j], or at s[j+1] when s[j]
// is a separator.
func digitsAfter(s string, j int) int {
	if j < len(s) && isSep(s[j]) {
		j++
	}
	n := 0
	for j < len(s) && isDigit(s[j]) {
		j++
		n++
	}
	return n
}

// EmbedsIP reports how name contains the address ip, or "" when it does
// not. Access networks write their customers' addresses into PTR names in
// a few encodings, all recognised here for IPv4 (192.0.2.10 as example):
//
//	"dashed"    192-0-2-10, 192.0.2.10, 192_0_2_10, 192x0x2x10 in order
//	"reversed"  10.2.0.192, 10-2-0-192
//	"padded"    192000002010 (three digits per octet), also with separators
//	"hex"       c000020a
//	"decimal"   3221225994 (the address as one 32-bit number)
//	"three-dashed", "three-reversed"  the last three octets only (0-2-10)
//
// and for IPv6 the 32 nibbles as one hex run, or the address with its
// colons written as '-' (compressed, uncompressed or zero-padded form).
func EmbedsIP(name string, ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	ip = ip.Unmap()
	name = strings.ToLower(name)
	if ip.Is6() {
		return embedsIP6(name, ip)
	}
	a := ip.As4()
	oct := []int{int(a[0]), int(a[1]), int(a[2]), int(a[3])}
	nums := numberRuns(name)
	if hasSeq(nums, oct) {
		if hasPaddedSeq(nums, oct) {
			return "padded"
		}
		return "dashed"
	}
	if hasSeq(nums, []int{oct[3], oct[2], oct[1], oct[0]}) {
		return "reversed"
	}
	padded := fmt.Sprintf("%03d%03d%03d%03d", oct[0], oct[1], oct[2], oct[3])
	dec := strconv.FormatUint(uint64(a[0])<<24|uint64(a[1])<<16|uint64(a[2])<<8|uint64(a[3]), 10)
	for _, n := range nums {
		if n.text == padded {
			return "padded"
		}
		if n.text == dec && len(dec) >= 8 {
			return "decimal"
		}
	}
	hex := fmt.Sprintf("%02x%02x%02x%02x", a[0], a[1], a[2], a[3])
	for _, h := range hexRuns(name) {
		if h == hex {
			return "hex"
		}
	}
	if hasSeq(nums, oct[1:]) {
		return "three-dashed"
	}
	if hasSeq(nums, []int{oct[3], oct[2], oct[1]}) {
		return "three-reversed"
	}
	return ""
}

func embedsIP6(name string, ip netip.Addr) string {
	b := ip.As16()
	full := fmt.Sprintf("%x", b[:])
	for _, h := range hexRuns(name) {
		if h == full {
			return "hex"
		}
	}
	short := strings.ReplaceAll(ip.String(), ":", "-")
	long := strings.ReplaceAll(ip.StringExpanded(), ":", "-")
	groups := make([]string, 8)
	for i := range groups {
		groups[i] = strconv.FormatUint(uint64(b[2*i])<<8|uint64(b[2*i+1]), 16)
	}
	plain := strings.Join(groups, "-")
	for _, form := range []string{short, long, plain} {
		if i := strings.Index(name, form); i >= 0 {
			j := i + len(form)
			if (i == 0 || !isHex(name[i-1])) && (j == len(name) || !isHex(name[j])) {
				return "dashed"
			}
		}
	}
	return ""
}

// numRun is a maximal run of decimal digits in a name, with whether the
// character after it is a separator that joins it to the next run.
type numRun struct {
	text   string
	val    int // -1 when longer than 3 digits (not an octet)
	joined bool
}

// numberRuns splits s into its maximal runs of digits. Two runs are
// "joined" when exactly one separator ('.', '-', '_' or 'x') lies between
// them.
func numberRuns(s string) []numRun {
	var out []numRun
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		r := numRun{text: s[i:j], val: -1}
		if j-i <= 3 {
			r.val, _ = strconv.Atoi(s[i:j])
		}
		if j+1 < len(s) && (isSep(s[j]) || s[j] == 'x') && isDigit(s[j+1]) {
			r.joined = true
		}
		out = append(out, r)
		i = j
	}
	return out
}

// hasSeq reports whether runs holds want as consecutive joined runs.
func hasSeq(runs []numRun, want []int) bool {
	for i := 0; i+len(want) <= len(runs); i++ {
		ok := true
		for k, w := range want {
			r := runs[i+k]
			if r.val != w || (k < len(want)-1 && !r.joined) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// hasPaddedSeq reports whether the matching sequence is written with three
// digits per octet (e.g. 192-000-002-010).
func hasPaddedSeq(runs []numRun, oct []int) bool {
	for i := 0; i+len(oct) <= len(runs); i++ {
		ok := true
		for k, w := range oct {
			r := runs[i+k]
			if r.val != w || len(r.text) != 3 || (k < len(oct)-1 && !r.joined) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// hexRuns returns the maximal runs of hex digits in s.
func hexRuns(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		if !isHex(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isHex(s[j]) {
			j++
		}
		out = append(out, s[i:j])
		i = j
	}
	return out
}

func isHex(c byte) bool { return isDigit(c) || (c >= 'a' && c <= 'f') }
