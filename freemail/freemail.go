// Package freemail knows which mail domains hand out mailboxes to anyone
// (rspamd's freemail map): a From or Reply-To at such a domain says nothing
// about who sent the message, which content rules weigh together with other
// findings (FREEMAIL_REPLYTO_NEQ_FROM_DOM, advance-fee fraud).
//
// A shipped list is embedded; a user's file replaces it and extra domains
// add to it. Matching is by the exact domain, as rspamd's email:domain
// filter does: mail.example.gmail.com is not gmail.com.
//
// This package does not fetch lists from the network.
package freemail

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hamlet-mail/hamlet/message"
)

//go:embed freemail.txt
var shipped string

// Set is a set of freemail domains. The zero value is empty.
type Set struct {
	domains map[string]struct{}
}

// Default returns the shipped list.
func Default() *Set {
	s, err := Parse(strings.NewReader(shipped), "shipped list")
	if err != nil {
		panic(err) // the embedded list is tested
	}
	return s
}

// Load reads a list from a file: one domain a line, "#" starts a comment.
func Load(path string) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("freemail: %w", err)
	}
	defer f.Close()
	return Parse(f, path)
}

// Parse reads a list; name is used in errors.
func Parse(r io.Reader, name string) (*Set, error) {
	s := &Set{domains: map[string]struct{}{}}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if err := s.Add(line); err != nil {
			return nil, fmt.Errorf("freemail: %s:%d: %w", name, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("freemail: %s: %w", name, err)
	}
	return s, nil
}

// Add adds a domain (normalised as DNS compares names; IDNs as A-labels).
func (s *Set) Add(domain string) error {
	d, err := message.NormalizeDomain(domain)
	if err != nil {
		return err
	}
	if !strings.Contains(d, ".") {
		return fmt.Errorf("%q is not a mail domain", domain)
	}
	if s.domains == nil {
		s.domains = map[string]struct{}{}
	}
	s.domains[d] = struct{}{}
	return nil
}

// Len returns the number of domains.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.domains)
}

// Contains reports whether domain (any case, trailing dot allowed, U- or
// A-labels) is a freemail domain.
func (s *Set) Contains(domain string) bool {
	if s == nil || len(s.domains) == 0 {
		return false
	}
	d, err := message.NormalizeDomain(domain)
	if err != nil {
		return false
	}
	_, ok := s.domains[d]
	return ok
}
