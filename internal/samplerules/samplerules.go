// Package samplerules builds the rule set the local rules benchmarks
// share: 1 000 rules, half of them regular expressions over the body, and
// list files of 100 000 entries, the load issue 14 sets.
package samplerules

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hamlet-mail/hamlet/rules"
)

// ListEntries is the size of each list file.
const ListEntries = 100_000

// Specs writes the list files into dir and returns the rules:
//
//   - 500 body regular expressions: 450 with a literal of their own
//     (scam phrases with a varying word, as a postmaster's list grows),
//     45 whose literal is a common word (so the pre-filter lets them
//     through and they run), 5 without a usable literal (they always run);
//     one of them matches the sample newsletter;
//   - 100 Subject regular expressions, 100 HELO suffixes, 100 From
//     domains, 100 URL hosts, 50 client networks, 50 attachment globs,
//     and 100 rules on the three list files (domains by suffix for From,
//     Reply-To and URL domains; networks; recipient addresses).
func Specs(dir string) ([]rules.Spec, error) {
	domains := filepath.Join(dir, "domains.txt")
	nets := filepath.Join(dir, "networks.txt")
	addrs := filepath.Join(dir, "addresses.txt")
	if err := writeList(domains, func(i int) string { return fmt.Sprintf("spam%06d.example", i) }); err != nil {
		return nil, err
	}
	if err := writeList(nets, func(i int) string { return fmt.Sprintf("10.%d.%d.0/24", i/256%256, i%256) + fmt.Sprintf(" # %d", i) }); err != nil {
		return nil, err
	}
	if err := writeList(addrs, func(i int) string { return fmt.Sprintf("user%06d@victims.example", i) }); err != nil {
		return nil, err
	}
	var specs []rules.Spec
	add := func(s rules.Spec) {
		s.Name = fmt.Sprintf("BENCH_%04d", len(specs))
		s.Weight = 0.5
		specs = append(specs, s)
	}
	common := []string{"the", "shop", "news", "details", "branch"}
	for i := 0; i < 500; i++ {
		var re string
		switch {
		case i == 0:
			re = `(?i)weekly news`
		case i%100 < 90:
			re = fmt.Sprintf(`(?i)\b(?:claim|collect)\s+your\s+prize%d\b`, i)
		case i%100 < 99:
			re = fmt.Sprintf(`(?i)\b%s\s+(?:win|won)\s+\$\d{%d,}`, common[i%len(common)], 3+i%4)
		default:
			re = fmt.Sprintf(`[A-Z]{%d}[0-9]{4}`, 12+i%5)
		}
		add(rules.Spec{Field: "body", Values: []string{re}})
	}
	for i := 0; i < 100; i++ {
		add(rules.Spec{Field: "header", Header: "Subject", Match: "regex", Values: []string{fmt.Sprintf(`(?i)urgent\W+invoice\s+#?%d`, i)}})
		add(rules.Spec{Field: "helo", Match: "suffix", Values: []string{fmt.Sprintf("dyn%d.isp.example", i)}})
		add(rules.Spec{Field: "from_domain", Values: []string{fmt.Sprintf("sender%d.example", i), fmt.Sprintf("other%d.example", i)}})
		add(rules.Spec{Field: "url_host", Values: []string{fmt.Sprintf("track%d.example", i)}})
	}
	for i := 0; i < 50; i++ {
		add(rules.Spec{Field: "ip", Values: []string{fmt.Sprintf("198.51.%d.0/24", i), fmt.Sprintf("2001:db8:%x::/48", i)}})
		add(rules.Spec{Field: "attachment_name", Match: "glob", Values: []string{fmt.Sprintf("*.x%02d", i)}})
	}
	for i := 0; i < 25; i++ {
		add(rules.Spec{Field: "from_domain", Match: "suffix", List: domains})
		add(rules.Spec{Field: "url_domain", Match: "suffix", List: domains})
		add(rules.Spec{Field: "ip", List: nets})
		add(rules.Spec{Field: "rcpt", List: addrs})
	}
	return specs, nil
}

func writeList(path string, entry func(int) string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "# generated for the benchmark")
	for i := 0; i < ListEntries; i++ {
		fmt.Fprintln(w, entry(i))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
