package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/internal/rspamdtest"
)

// outcome is one scanner's verdict on one message.
type outcome struct {
	action  string  // rspamd's names: "no action", "greylist", "add header", …
	score   float64 // the sum
	symbols string  // the symbols with a non-zero score, sorted: NAME(score) …
}

func (o outcome) acted() bool { return o.action != "no action" }

func hamletOutcome(v *engine.Verdict) outcome {
	return outcome{action: v.Action.String(), score: v.Score, symbols: symbolList(v)}
}

func rspamdOutcome(r *rspamdtest.Reply) outcome {
	var syms []string
	for _, s := range r.Sorted() {
		if s.Score != 0 {
			syms = append(syms, fmt.Sprintf("%s(%.1f)", s.Name, s.Score))
		}
	}
	return outcome{action: r.Action, score: r.Score, symbols: strings.Join(syms, " ")}
}

// corpus is a named list of samples.
type corpus struct {
	name    string
	samples []sample
}

// scanRspamd starts rspamd against the eval's DNS server (and clamd, when
// there is one) and records its verdict on every sample as results["rspamd"].
// Each message goes with the envelope hamlet sees: the client's IP, HELO
// and confirmed PTR name, MAIL FROM, RCPT TO and a queue id.
func scanRspamd(bin, dir, dnsAddr, clamdSocket string, corpora []corpus, results map[string]map[string][]outcome) error {
	av := ""
	if clamdSocket != "" {
		av = rspamdtest.ClamAV(clamdSocket)
	}
	srv, err := rspamdtest.Start(rspamdtest.Options{Bin: bin, Dir: dir, DNS: dnsAddr, Antivirus: av})
	if err != nil {
		return err
	}
	defer srv.Stop()
	client := &http.Client{Timeout: time.Minute}
	results["rspamd"] = map[string][]outcome{}
	for _, c := range corpora {
		for i, s := range c.samples {
			env := rspamdtest.Envelope{IP: s.tx.ClientIP.String(), Helo: s.tx.Helo, Hostname: s.tx.ClientPTR,
				From: s.tx.MailFrom, Rcpts: s.tx.Rcpts, QueueID: fmt.Sprintf("EVAL%05d", i)}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			r, err := rspamdtest.Check(ctx, client, srv.URL, s.raw, env)
			cancel()
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			results["rspamd"][c.name] = append(results["rspamd"][c.name], rspamdOutcome(r))
		}
	}
	return nil
}

var columnTitle = map[string]string{"before": "hamlet before issue 11", "after": "hamlet after", "rspamd": "rspamd 3.4"}

// tally counts spam and ham acted on among the samples that keep says to.
func tally(samples []sample, out []outcome, keep func(sample) bool) string {
	sa, st, ha, ht := 0, 0, 0, 0
	for i, s := range samples {
		if !keep(s) {
			continue
		}
		if s.spam {
			st++
			if out[i].acted() {
				sa++
			}
		} else {
			ht++
			if out[i].acted() {
				ha++
			}
		}
	}
	return fmt.Sprintf("%d/%d %.1f%% | %d/%d", sa, st, pct(sa, st), ha, ht)
}

// report prints the figures of each column, the marked fixtures, the
// figures by kind, the ham acted on and, verbose, every message on which
// hamlet (after) and rspamd differ.
func report(w io.Writer, columns []string, corpora []corpus, results map[string]map[string][]outcome, verbose bool) {
	fmt.Fprintf(w, "%-46s", "corpus")
	for _, c := range columns {
		fmt.Fprintf(w, " %-26s", columnTitle[c])
	}
	fmt.Fprintf(w, "\n%-46s", "")
	for range columns {
		fmt.Fprintf(w, " %-26s", "spam acted on | ham acted")
	}
	fmt.Fprintln(w)
	all := func(sample) bool { return true }
	offline := func(s sample) bool { return markOf(needsNetwork, s.name) == "" }
	clean := func(s sample) bool { return offline(s) && markOf(mislabelled, s.name) == "" }
	for _, c := range corpora {
		rows := []struct {
			name string
			keep func(sample) bool
		}{{c.name, all}}
		if c.name == fixtures {
			rows = append(rows,
				struct {
					name string
					keep func(sample) bool
				}{"  without live-DNS/network fixtures", offline},
				struct {
					name string
					keep func(sample) bool
				}{"  without those and the mislabelled/damaged", clean})
		}
		for _, r := range rows {
			fmt.Fprintf(w, "%-46s", r.name)
			for _, col := range columns {
				fmt.Fprintf(w, " %-26s", tally(c.samples, results[col][c.name], r.keep))
			}
			fmt.Fprintln(w)
		}
	}
	rs := len(columns) == 3
	verdicts := func(cname string, i int) string {
		s := "hamlet " + results["after"][cname][i].action
		if rs {
			s += ", rspamd " + results["rspamd"][cname][i].action
		}
		return s
	}
	for _, c := range corpora {
		if c.name != fixtures {
			continue
		}
		for _, m := range []struct {
			title string
			marks []mark
		}{{"needs live DNS or a network service (served NXDOMAIN here)", needsNetwork}, {"mislabelled or damaged (counted under their folder's label)", mislabelled}} {
			fmt.Fprintf(w, "\n%s, %s:\n", c.name, m.title)
			for i, s := range c.samples {
				if why := markOf(m.marks, s.name); why != "" {
					fmt.Fprintf(w, "  %-5s %-34s %-40s %s\n", label(s), s.name, verdicts(c.name, i), why)
				}
			}
		}
	}
	for _, c := range corpora {
		fmt.Fprintf(w, "\n%s, by kind (acted on / messages; hamlet's actions", c.name)
		if rs {
			fmt.Fprint(w, "; rspamd acted on")
		}
		fmt.Fprintln(w, "):")
		type kind struct {
			n, acted, rsActed int
			actions           map[string]int
		}
		kinds := map[string]*kind{}
		for i, s := range c.samples {
			k := kinds[s.kind]
			if k == nil {
				k = &kind{actions: map[string]int{}}
				kinds[s.kind] = k
			}
			k.n++
			v := results["after"][c.name][i]
			if v.acted() {
				k.acted++
			}
			k.actions[v.action]++
			if rs && results["rspamd"][c.name][i].acted() {
				k.rsActed++
			}
		}
		var names []string
		for k := range kinds {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, name := range names {
			k := kinds[name]
			fmt.Fprintf(w, "  %-30s %3d/%-3d %v", name, k.acted, k.n, k.actions)
			if rs {
				fmt.Fprintf(w, "; rspamd %d/%d", k.rsActed, k.n)
			}
			fmt.Fprintln(w)
		}
		for i, s := range c.samples {
			if v := results["after"][c.name][i]; !s.spam && v.acted() {
				fmt.Fprintf(w, "  HAM acted on by hamlet: %s: %s %.2f %s\n", s.name, v.action, v.score, v.symbols)
			}
		}
	}
	if !verbose || !rs {
		return
	}
	for _, c := range corpora {
		symbolGap(w, c, results)
	}
	for _, c := range corpora {
		fmt.Fprintf(w, "\n%s: the messages on which hamlet (after) and rspamd differ in action\n", c.name)
		for i, s := range c.samples {
			h, r := results["after"][c.name][i], results["rspamd"][c.name][i]
			if h.action == r.action {
				continue
			}
			fmt.Fprintf(w, "  %s %s\n", label(s), s.name)
			fmt.Fprintf(w, "    hamlet %-15s %6.2f  %s\n", h.action, h.score, h.symbols)
			fmt.Fprintf(w, "    rspamd %-15s %6.2f  %s\n", r.action, r.score, r.symbols)
		}
	}
}

func label(s sample) string {
	if s.spam {
		return "spam"
	}
	return "HAM"
}

// symbolGap prints, for the corpus, each scoring symbol that fires in one
// scanner's verdicts and not in the other's on the same message, with the
// spam and ham messages it does so on: where to look for a missing rule.
func symbolGap(w io.Writer, c corpus, results map[string]map[string][]outcome) {
	type count struct{ spam, ham int }
	gaps := map[string]map[string]*count{"rspamd only": {}, "hamlet only": {}}
	names := func(o outcome) map[string]bool {
		m := map[string]bool{}
		for _, f := range strings.Fields(o.symbols) {
			if i := strings.IndexByte(f, '('); i > 0 {
				m[f[:i]] = true
			}
		}
		return m
	}
	for i, s := range c.samples {
		h, r := names(results["after"][c.name][i]), names(results["rspamd"][c.name][i])
		for _, side := range []struct {
			name      string
			has, lack map[string]bool
		}{{"rspamd only", r, h}, {"hamlet only", h, r}} {
			for sym := range side.has {
				if side.lack[sym] {
					continue
				}
				n := gaps[side.name][sym]
				if n == nil {
					n = &count{}
					gaps[side.name][sym] = n
				}
				if s.spam {
					n.spam++
				} else {
					n.ham++
				}
			}
		}
	}
	fmt.Fprintf(w, "\n%s: symbols one scanner gives a message and the other does not (spam, ham messages)\n", c.name)
	for _, side := range []string{"rspamd only", "hamlet only"} {
		var syms []string
		for sym := range gaps[side] {
			syms = append(syms, sym)
		}
		sort.Strings(syms)
		fmt.Fprintf(w, "  %s:", side)
		for _, sym := range syms {
			fmt.Fprintf(w, " %s %d/%d", sym, gaps[side][sym].spam, gaps[side][sym].ham)
		}
		fmt.Fprintln(w)
	}
}
