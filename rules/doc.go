// Package rules is the postmaster's own rules — rspamd's multimap and
// regexp modules, SpamAssassin's header/body/uri rules — compiled from the
// [[rules]] tables of the configuration and of the files it includes.
//
// A rule looks at one field of the transaction (Fields: the client IP,
// HELO, PTR name, envelope sender and recipients, a header field, the
// From and Reply-To addresses and domains, the URLs, the attachments, the
// body text, the domains SPF, DKIM and DMARC passed for), compares its
// values by one match type, and gives a symbol (the rule's name, its
// weight and description, "field=value" as option; for the body, the
// expression that matched, never the text; for a URL, its scheme and
// host), optionally a forced
// action with a reply text, or a pre-result (accept, skip greylisting). A
// composite rule combines symbols with & | ! (rspamd's composites) and,
// when it holds, takes from the symbols it names what its policy says
// (remove_all by default; ~NAME, -NAME, ^NAME per name), as rspamd does.
//
//	set, err := rules.Compile(specs, rules.Options{Lists: lists})
//	hits := set.Eval(&rules.Input{ClientIP: ip, Message: m, Content: c, …})
//	held, removed := set.Compose(func(name string) bool { … every check's symbols … })
//
// # Matching and its cost
//
//   - exact: a hash set (names and addresses in lower case, IDNs as
//     A-labels; text case-insensitive);
//   - suffix: the same set, looked up once per label boundary
//     ("a.b.example" asks a.b.example, b.example, example);
//   - cidr: one hash map per prefix length present, at most 33 or 129
//     look-ups whatever the number of networks;
//   - glob and regex (RE2): the patterns of every rule reading the same
//     values share one pre-filter — each expression's required literals
//     (from its syntax tree) in one Aho–Corasick automaton — so a body is
//     scanned once, and only the expressions whose literal occurs (or
//     that have none) are run. A result is never changed by the
//     pre-filter, only the work.
//
// List files (Lists) hold entries one a line with # comments; they are
// read again on every Compile (SIGHUP) and when they change on disk, and
// keep their old contents when they cannot be read.
//
// # What it does not do
//
// It reads no DNS and no store, and does not decide the action: the
// caller (checks.Rules) turns hits into engine symbols, and the engine
// applies what the composites take (it keeps symbols that force an
// action). It has no group atoms (rspamd's "g:" and "g+:") and no
// "N of" thresholds.
package rules
