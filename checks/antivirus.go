package checks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/clamd"
	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/engine"
)

// Antivirus symbols: rspamd's antivirus module with a rule named clamav
// (symbol CLAM_VIRUS and the _FAIL, _ENCRYPTED, _MACRO variants it
// derives). rspamd gives them no weight of their own; a found virus acts
// by the rule's action, here reject by default.
const (
	CheckAntivirus     = "antivirus"
	SymClamVirus       = "CLAM_VIRUS"
	SymClamVirusFail   = "CLAM_VIRUS_FAIL"
	SymClamEncrypted   = "CLAM_VIRUS_ENCRYPTED"
	SymClamMacro       = "CLAM_VIRUS_MACRO"
	defaultAVTimeout   = 5 * time.Second // rspamd's clamav timeout
	defaultAVMaxSize   = 20_000_000      // rspamd's example max_size
	defaultVirusAction = "reject"
)

// AntivirusConfig is the [antivirus] section.
type AntivirusConfig struct {
	// Clamd is clamd's socket: "unix:/run/clamav/clamd.ctl" (Debian's) or
	// "tcp:127.0.0.1:3310"; "" turns scanning off.
	Clamd string `toml:"clamd"`
	// Timeout bounds one scan; past it the message gets CLAM_VIRUS_FAIL
	// and goes on unscanned.
	Timeout duration.Duration `toml:"timeout"`
	// MaxSize: larger messages are not sent to clamd (logged).
	MaxSize int64 `toml:"max_size"`
	// Action is forced when a virus is found: "reject", "soft_reject",
	// "add_header", "rewrite_subject", or "" (only the symbol's weight).
	Action string `toml:"action"`
	// Message is the SMTP reply for a rejected virus; ${VIRUS} is the
	// signature name.
	Message string `toml:"message"`
}

// DefaultAntivirusConfig: off until a socket is named; 5 s, 20 MB,
// reject.
func DefaultAntivirusConfig() AntivirusConfig {
	return AntivirusConfig{Timeout: duration.Duration(defaultAVTimeout), MaxSize: defaultAVMaxSize, Action: defaultVirusAction,
		Message: `5.7.1 clamav: virus found: "${VIRUS}"`}
}

// Validate checks the section.
func (c *AntivirusConfig) Validate() error {
	if c.Clamd != "" {
		if _, err := clamd.New(c.Clamd); err != nil {
			return fmt.Errorf("clamd: %w", err)
		}
	}
	if c.Timeout.D() <= 0 {
		return fmt.Errorf("timeout must be positive")
	}
	if c.MaxSize <= 0 {
		return fmt.Errorf("max_size must be positive")
	}
	if _, err := c.action(); err != nil {
		return err
	}
	return nil
}

func (c *AntivirusConfig) action() (engine.Action, error) {
	if strings.TrimSpace(c.Action) == "" {
		return engine.NoAction, nil
	}
	a, ok := engine.ParseAction(c.Action)
	if !ok || a == engine.Greylist {
		return 0, fmt.Errorf("action: %q is not reject, soft_reject, rewrite_subject, add_header or \"\"", c.Action)
	}
	return a, nil
}

// Antivirus streams the message to clamd (INSTREAM) at the end of DATA.
// A virus gives CLAM_VIRUS with the signature name and forces the
// configured action; clamd down, slow or refusing gives CLAM_VIRUS_FAIL
// (weight 0) and the message goes on: our failure never becomes a 5xx.
type Antivirus struct {
	cfg    AntivirusConfig
	client *clamd.Client
	force  engine.Action
	log    *slog.Logger
}

var (
	_ engine.Check           = (*Antivirus)(nil)
	_ engine.TimeoutSymboler = (*Antivirus)(nil)
	_ engine.Forcer          = (*Antivirus)(nil)
)

// NewAntivirus returns the check; cfg.Clamd must be set.
func NewAntivirus(cfg AntivirusConfig, log *slog.Logger) (*Antivirus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("antivirus: %w", err)
	}
	if cfg.Clamd == "" {
		return nil, errors.New("antivirus: clamd is not set")
	}
	c, _ := clamd.New(cfg.Clamd)
	a, _ := cfg.action()
	if log == nil {
		log = slog.Default()
	}
	return &Antivirus{cfg: cfg, client: c, force: a, log: log}, nil
}

// Name implements engine.Check.
func (c *Antivirus) Name() string { return CheckAntivirus }

// Phase implements engine.Check.
func (c *Antivirus) Phase() engine.Phase { return engine.PhaseData }

// After implements engine.Check.
func (c *Antivirus) After() []string { return nil }

// MayForce implements engine.Forcer.
func (c *Antivirus) MayForce() bool { return c.force != engine.NoAction }

// TimeoutSymbol implements engine.TimeoutSymboler.
func (c *Antivirus) TimeoutSymbol() engine.Symbol {
	return engine.Symbol{Name: SymClamVirusFail, Options: []string{"timeout"}}
}

// Symbols implements engine.Check.
func (c *Antivirus) Symbols() []engine.SymbolDef {
	return []engine.SymbolDef{
		{Name: SymClamVirus, Weight: 0, Group: "antivirus", Description: "ClamAV found a virus (forces [antivirus] action)"},
		{Name: SymClamVirusFail, Weight: 0, Group: "antivirus", Description: "ClamAV scan failed: clamd down, slow or refusing"},
		{Name: SymClamEncrypted, Weight: 0, Group: "antivirus", Description: "ClamAV: the message holds an encrypted archive or document"},
		{Name: SymClamMacro, Weight: 0, Group: "antivirus", Description: "ClamAV: an Office document with macros"},
	}
}

// AntivirusValue is the check's value: what clamd said.
type AntivirusValue struct {
	Virus   string
	Skipped string // why the message was not scanned, "" when it was
	Err     error
	Elapsed time.Duration
}

// Run implements engine.Check.
func (c *Antivirus) Run(ctx context.Context, tx *engine.Transaction, _ engine.Results) engine.Result {
	if tx.Message == nil {
		return engine.Result{}
	}
	raw := tx.Message.Raw
	val := &AntivirusValue{}
	if int64(len(raw)) > c.cfg.MaxSize {
		val.Skipped = fmt.Sprintf("%d bytes > max_size %d", len(raw), c.cfg.MaxSize)
		c.log.Info("antivirus: message not scanned", "queue_id", tx.QueueID, "reason", val.Skipped)
		return engine.Result{Value: val}
	}
	scanDeadline, hasDeadline := ctx.Deadline()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout.D())
	defer cancel()
	start := time.Now()
	res, err := c.client.Scan(ctx, raw)
	val.Elapsed, val.Err, val.Virus = time.Since(start), err, res.Virus
	if err != nil {
		why := "error"
		switch {
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
			why = "timeout"
		case errors.Is(err, clamd.ErrSizeLimit):
			why = "size limit"
		case strings.Contains(err.Error(), "connect"):
			why = "connect"
		}
		attrs := []any{"queue_id", tx.QueueID, "clamd", c.client.String(), "err", err}
		if why == "timeout" {
			// Which deadline ended the scan: [antivirus] timeout, or the
			// scan's own ([scan] timeout, the caller's) when it came first.
			endedBy := "antivirus timeout"
			if own, _ := ctx.Deadline(); hasDeadline && !scanDeadline.After(own) {
				endedBy = "scan deadline"
			}
			attrs = append(attrs, "ended_by", endedBy)
		}
		c.log.Warn("antivirus: scan failed", attrs...)
		return engine.Result{Symbols: []engine.Symbol{{Name: SymClamVirusFail, Options: []string{why}}}, Value: val}
	}
	if !res.Found() {
		return engine.Result{Value: val}
	}
	c.log.Info("antivirus: found", "queue_id", tx.QueueID, "virus", res.Virus)
	switch v := res.Virus; {
	case strings.HasPrefix(v, "Heuristics.Encrypted"):
		return engine.Result{Symbols: []engine.Symbol{{Name: SymClamEncrypted, Options: []string{v}}}, Value: val}
	case strings.HasPrefix(v, "Heuristics.OLE2.ContainsMacros"):
		return engine.Result{Symbols: []engine.Symbol{{Name: SymClamMacro, Options: []string{v}}}, Value: val}
	case strings.HasPrefix(v, "Heuristics.Limits.Exceeded"):
		return engine.Result{Symbols: []engine.Symbol{{Name: SymClamVirusFail, Options: []string{"limits exceeded", v}}}, Value: val}
	}
	sym := engine.Symbol{Name: SymClamVirus, Options: []string{res.Virus}, Force: c.force}
	if c.force == engine.Reject {
		sym.Message = strings.ReplaceAll(c.cfg.Message, "${VIRUS}", res.Virus)
	}
	return engine.Result{Symbols: []engine.Symbol{sym}, Value: val}
}
