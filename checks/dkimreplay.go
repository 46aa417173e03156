package checks

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/dmarc"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/spf"
	"github.com/hamlet-mail/hamlet/store"
)

// SymDKIMReplay is the DKIM replay symbol.
const SymDKIMReplay = "DKIM_REPLAY"

// DKIMReplayConfig is [dkim.replay].
type DKIMReplayConfig struct {
	Enabled bool `toml:"enabled"`
	// Window: a signature is counted for this long from its first
	// sighting.
	Window duration.Duration `toml:"window"`
	// MaxNetworks: more distinct client networks than this for one
	// signature within the window is a replay.
	MaxNetworks int `toml:"max_networks"`
	// MaxRecipients: more distinct envelope recipients than this for one
	// signature within the window is a replay.
	MaxRecipients int `toml:"max_recipients"`
	// IPv4Prefix and IPv6Prefix say what a client network is.
	IPv4Prefix int `toml:"ipv4_prefix"`
	IPv6Prefix int `toml:"ipv6_prefix"`
}

// DefaultDKIMReplayConfig: on, 24 hours, more than 3 networks (/24, /48)
// or more than 50 recipients.
func DefaultDKIMReplayConfig() DKIMReplayConfig {
	return DKIMReplayConfig{Enabled: true, Window: duration.Duration(24 * time.Hour), MaxNetworks: 3, MaxRecipients: 50,
		IPv4Prefix: 24, IPv6Prefix: 48}
}

// Validate checks the section.
func (c *DKIMReplayConfig) Validate() error {
	switch {
	case c.Window.D() < time.Minute:
		return fmt.Errorf("replay: window must be at least 1m")
	case c.MaxNetworks < 1 || c.MaxNetworks > 10000:
		return fmt.Errorf("replay: max_networks must be from 1 to 10000")
	case c.MaxRecipients < 1 || c.MaxRecipients > 10000:
		return fmt.Errorf("replay: max_recipients must be from 1 to 10000")
	case c.IPv4Prefix < 8 || c.IPv4Prefix > 32:
		return fmt.Errorf("replay: ipv4_prefix must be from 8 to 32")
	case c.IPv6Prefix < 16 || c.IPv6Prefix > 128:
		return fmt.Errorf("replay: ipv6_prefix must be from 16 to 128")
	}
	return nil
}

// DKIMReplay is the check that counts, for every DKIM signature that
// verified, the client networks it came from and the recipients it went to
// within a window, in the store (so that MX hosts sharing Redis see one
// picture), and adds DKIM_REPLAY when one signature (its d= and b=) came
// from more than max_networks networks or to more than max_recipients
// recipients: a message a spammer got signed by a large provider once and
// replays to many. A copy from a server the signer authorises (SPF passes
// for a domain aligned with d=, relaxed as in DMARC) is the signer's own
// sending — its retries after greylisting come from other networks of
// the provider, a large list from its own servers — and is not counted.
// Inbound mail only; a store failure is logged and adds nothing.
type DKIMReplay struct {
	cfg DKIMReplayConfig
	st  store.DKIMReplay
	log *slog.Logger
	now func() time.Time
}

var (
	_ engine.Check       = (*DKIMReplay)(nil)
	_ engine.InboundOnly = (*DKIMReplay)(nil)
)

// NewDKIMReplay returns the check.
func NewDKIMReplay(cfg DKIMReplayConfig, st store.DKIMReplay, log *slog.Logger) (*DKIMReplay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dkim.%w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	return &DKIMReplay{cfg: cfg, st: st, log: log, now: time.Now}, nil
}

// Name implements engine.Check.
func (c *DKIMReplay) Name() string { return "dkim_replay" }

// Phase implements engine.Check.
func (c *DKIMReplay) Phase() engine.Phase { return engine.PhaseData }

// After implements engine.Check: the DKIM and SPF results.
func (c *DKIMReplay) After() []string { return []string{"dkim", "spf"} }

// InboundOnly implements engine.InboundOnly.
func (c *DKIMReplay) InboundOnly() bool { return true }

// Symbols implements engine.Check.
func (c *DKIMReplay) Symbols() []engine.SymbolDef {
	return []engine.SymbolDef{{Name: SymDKIMReplay, Weight: 5.0, Group: "dkim",
		Description: "One DKIM signature seen from too many networks or for too many recipients (a replayed message)"}}
}

// replayKey names a signature: its domain and a hash of its b= value.
func replayKey(r dkim.Result) string {
	sum := sha256.Sum256(r.Signature.B)
	return "d=" + strings.ToLower(r.Domain) + ":b=" + hex.EncodeToString(sum[:12])
}

func hash64(s string) uint64 {
	sum := sha256.Sum256([]byte(s))
	return binary.BigEndian.Uint64(sum[:8])
}

// network returns the client's network as text ("192.0.2.0/24").
func (c *DKIMReplay) network(ip netip.Addr) string {
	bits := c.cfg.IPv6Prefix
	if ip.Is4() || ip.Is4In6() {
		ip, bits = ip.Unmap(), c.cfg.IPv4Prefix
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return ip.String()
	}
	return p.String()
}

// Run implements engine.Check.
func (c *DKIMReplay) Run(ctx context.Context, tx *engine.Transaction, deps engine.Results) engine.Result {
	results, _ := engine.Value[[]dkim.Result](deps, "dkim")
	if !tx.Inbound() || !tx.ClientIP.IsValid() {
		return engine.Result{}
	}
	spfPass := ""
	if r, ok := engine.Value[*spf.Result](deps, "spf"); ok && r != nil && r.Code == spf.Pass {
		spfPass = strings.ToLower(r.Domain)
	}
	var ss []store.ReplaySighting
	var domains []string
	net := hash64(c.network(tx.ClientIP))
	rcpts := make([]uint64, 0, len(tx.Rcpts))
	for _, r := range tx.Rcpts {
		rcpts = append(rcpts, hash64(strings.ToLower(r)))
	}
	for _, r := range results {
		if r.Status != dkim.StatusPass || r.Signature == nil || len(r.Signature.B) == 0 {
			continue
		}
		if spfPass != "" && dmarc.Aligned(spfPass, strings.ToLower(r.Domain), dmarc.Relaxed) {
			continue // sent by the signer's own servers
		}
		ss = append(ss, store.ReplaySighting{Key: replayKey(r), Network: net, Rcpts: rcpts})
		domains = append(domains, strings.ToLower(r.Domain))
	}
	if len(ss) == 0 {
		return engine.Result{}
	}
	limit := max(c.cfg.MaxNetworks, c.cfg.MaxRecipients) + 1
	counts, err := c.st.ReplaySee(ctx, c.now(), c.cfg.Window.D(), limit, ss...)
	if err != nil {
		c.log.Warn("dkim replay: not counted", "queue_id", tx.QueueID, "err", err)
		return engine.Result{}
	}
	var sym engine.Symbol
	for i, n := range counts {
		var why []string
		if n.Networks > c.cfg.MaxNetworks {
			why = append(why, fmt.Sprintf("%d networks", n.Networks))
		}
		if n.Recipients > c.cfg.MaxRecipients {
			why = append(why, fmt.Sprintf("%d recipients", n.Recipients))
		}
		if len(why) == 0 {
			continue
		}
		sym.Name = SymDKIMReplay
		more := ""
		if n.Networks >= limit || n.Recipients >= limit {
			more = " or more"
		}
		sym.Options = append(sym.Options, fmt.Sprintf("%s: %s%s in %d messages since %s", domains[i], strings.Join(why, ", "), more,
			n.Messages, n.First.UTC().Format(time.RFC3339)))
	}
	if sym.Name == "" {
		return engine.Result{Value: counts}
	}
	return engine.Result{Value: counts, Symbols: []engine.Symbol{sym}}
}
