package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

func init() {
	commands["fuzzy"] = command{"near-duplicate hashes of the running daemon: stats, add or del messages, delhash", cmdFuzzy}
}

// cmdFuzzy talks to the running daemon's controller with rspamd's fuzzy
// endpoints (what rspamc fuzzy_add, fuzzy_del and fuzzy_delhash call).
func cmdFuzzy(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fuzzy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var ctl controllerFlags
	var flagN, weight int
	ctl.register(fs, "controller `password` (admin password for add and del)")
	fs.IntVar(&flagN, "f", 1, "list of add: 1 FUZZY_DENIED, 2 FUZZY_PROB, 3 FUZZY_WHITE")
	fs.IntVar(&weight, "w", 1, "weight of add (adds up with earlier adds of the same list)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hamlet fuzzy [options] stats | add FILE... | del FILE... | delhash HASH...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	rest := fs.Args()
	if len(rest) == 0 || (rest[0] != "stats" && len(rest) < 2) {
		fs.Usage()
		return exitConfig
	}
	c, ok := ctl.client("fuzzy", stderr)
	if !ok {
		return exitConfig
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	call := func(method, path string, body []byte, hdr http.Header) (map[string]any, error) {
		req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		for k, vs := range hdr {
			req.Header[k] = vs
		}
		if c.Password != "" {
			req.Header.Set("Password", c.Password)
		}
		resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var out map[string]any
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
		}
		if e, ok := out["error"].(string); ok {
			return out, fmt.Errorf("%s: %s", resp.Status, e)
		}
		return out, nil
	}
	failed := 0
	switch rest[0] {
	case "stats":
		out, err := call(http.MethodGet, "/api/fuzzy", nil, nil)
		if err != nil {
			fmt.Fprintf(stderr, "hamlet fuzzy: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(stdout, "%v hashes (at most %v, forgotten after %v without an add); check %s, learn_spam adds with weight %v: %s\n",
			out["hashes"], out["max_hashes"], out["expire"], onOff(out["enabled"]), out["learn_weight"], onOff(out["learn"]))
		return exitOK
	case "add", "del":
		path := "/fuzzy" + rest[0]
		hdr := http.Header{}
		if rest[0] == "add" {
			hdr.Set("Flag", strconv.Itoa(flagN))
			hdr.Set("Weight", strconv.Itoa(weight))
		}
		for _, f := range rest[1:] {
			raw, err := os.ReadFile(f)
			if err == nil {
				var out map[string]any
				out, err = call(http.MethodPost, path, raw, hdr)
				if err == nil {
					fmt.Fprintf(stdout, "%s: %s %v\n", f, map[string]string{"add": "added", "del": "deleted"}[rest[0]], out["hashes"])
					continue
				}
			}
			failed++
			fmt.Fprintf(stderr, "hamlet fuzzy: %s: %v\n", f, err)
		}
	case "delhash":
		hdr := http.Header{"Hash": rest[1:]}
		out, err := call(http.MethodPost, "/fuzzydelhash", nil, hdr)
		if err != nil {
			fmt.Fprintf(stderr, "hamlet fuzzy: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(stdout, "deleted %v of %d\n", out["deleted"], len(rest)-1)
	default:
		fs.Usage()
		return exitConfig
	}
	if failed > 0 {
		return exitFail
	}
	return exitOK
}

func onOff(v any) string {
	if b, _ := v.(bool); b {
		return "on"
	}
	return "off"
}
