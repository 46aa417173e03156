package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hamlet-mail/hamlet/dkimkeys"
)

func init() {
	commands["dkim"] = command{"DKIM keys: keygen (new key and its DNS record), record (DNS record of a key)", cmdDKIM}
}

const dkimUsage = `usage:
  hamlet dkim keygen -d DOMAIN -s SELECTOR [-a rsa|ed25519] [--bits 2048] [-o DIR]
      writes DIR/DOMAIN.SELECTOR.key (mode 0600) and prints the DNS TXT record
      to publish, in zone-file form; the hamlet.toml lines go to stderr
  hamlet dkim record -d DOMAIN -s SELECTOR KEYFILE
      prints the DNS TXT record of an existing private key
`

func cmdDKIM(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, dkimUsage)
		if len(args) == 0 {
			return exitConfig
		}
		return exitOK
	}
	switch args[0] {
	case "keygen":
		return dkimKeygen(args[1:], stdout, stderr)
	case "record":
		return dkimRecord(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "hamlet dkim: unknown subcommand %q\n\n%s", args[0], dkimUsage)
	return exitConfig
}

// algName maps -a to the configuration's algorithm name.
func algName(a string) (string, bool) {
	switch strings.ToLower(a) {
	case "rsa", dkimkeys.AlgRSA:
		return dkimkeys.AlgRSA, true
	case "ed25519", dkimkeys.AlgEd25519:
		return dkimkeys.AlgEd25519, true
	}
	return "", false
}

func dkimKeygen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dkim keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var domain, selector, alg, dir string
	var bits int
	fs.StringVar(&domain, "d", "", "the signing `domain` (d=)")
	fs.StringVar(&selector, "s", "", "the `selector` (s=), e.g. 2026a")
	fs.StringVar(&alg, "a", "rsa", "key `type`: rsa or ed25519")
	fs.IntVar(&bits, "bits", dkimkeys.DefaultRSABits, "RSA key size in `bits`")
	fs.StringVar(&dir, "o", ".", "`directory` to write the key to")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hamlet dkim keygen: unexpected argument %q\n", fs.Arg(0))
		return exitConfig
	}
	a, ok := algName(alg)
	if !ok {
		fmt.Fprintf(stderr, "hamlet dkim keygen: -a %q: want rsa or ed25519\n", alg)
		return exitConfig
	}
	cfg := dkimkeys.SignKey{Domain: domain, Selector: selector, Key: "-", Algorithm: a}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "hamlet dkim keygen: %v (give -d DOMAIN -s SELECTOR)\n", err)
		return exitConfig
	}
	cfg = cfg.Normalize()
	if a == dkimkeys.AlgEd25519 {
		bits = 0
	}
	key, err := dkimkeys.Generate(a, bits)
	if err != nil {
		fmt.Fprintf(stderr, "hamlet dkim keygen: %v\n", err)
		return exitConfig
	}
	pemBytes, err := dkimkeys.MarshalPrivateKey(key)
	if err != nil {
		fmt.Fprintf(stderr, "hamlet dkim keygen: %v\n", err)
		return exitFail
	}
	rec, err := dkimkeys.KeyRecord(key.Public())
	if err != nil {
		fmt.Fprintf(stderr, "hamlet dkim keygen: %v\n", err)
		return exitFail
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		fmt.Fprintf(stderr, "hamlet dkim keygen: %v\n", err)
		return exitFail
	}
	path := filepath.Join(dir, dkimkeys.KeyFileName(cfg.Domain, cfg.Selector))
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if err := dkimkeys.WriteKeyFile(path, pemBytes); err != nil {
		fmt.Fprintf(stderr, "hamlet dkim keygen: %v\n", err)
		return exitFail
	}
	fmt.Fprint(stdout, dkimkeys.ZoneRecord(cfg.Selector, cfg.Domain, rec))
	fmt.Fprintf(stderr, `Private key written to %s (mode 0600; make hamlet's user its owner).
Publish the TXT record above (stdout) in the DNS zone of %s, check it with
  hamlet doctor %s --selector %s --key %s
then add to hamlet.toml:

[[dkim.sign]]
domain = %q
selector = %q
key = %q
algorithm = %q
`, path, cfg.Domain, cfg.Domain, cfg.Selector, path, cfg.Domain, cfg.Selector, path, a)
	return exitOK
}

func dkimRecord(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dkim record", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var domain, selector string
	fs.StringVar(&domain, "d", "", "the signing `domain` (d=)")
	fs.StringVar(&selector, "s", "", "the `selector` (s=)")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if fs.NArg() != 1 {
		fmt.Fprint(stderr, dkimUsage)
		return exitConfig
	}
	cfg := dkimkeys.SignKey{Domain: domain, Selector: selector, Key: fs.Arg(0)}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "hamlet dkim record: %v\n", err)
		return exitConfig
	}
	cfg = cfg.Normalize()
	key, err := dkimkeys.ReadKeyFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "hamlet dkim record: %v\n", err)
		return exitFail
	}
	rec, err := dkimkeys.KeyRecord(key.Public())
	if err != nil {
		fmt.Fprintf(stderr, "hamlet dkim record: %v\n", err)
		return exitFail
	}
	fmt.Fprint(stdout, dkimkeys.ZoneRecord(cfg.Selector, cfg.Domain, rec))
	return exitOK
}
