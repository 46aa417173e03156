package main

import "path"

// A mark says why a fixture's figure is not what it seems: its verdict
// needs something this offline run cannot serve (live DNS records of
// its sender, a DNS list, a network service), or its label is wrong.
// Marked fixtures stay in the corpus and in the "all" figures; the report
// lists them with the reason and gives the figures without them as well.
type mark struct {
	pattern string // path.Match pattern on the fixture's name (spam/…, nice/…)
	reason  string
}

// needsNetwork are the fixtures whose verdict upstream depends on live DNS
// or another network service (SOURCE.md: spf*, dmarc/*, dnsbl*; and what
// the fixtures themselves say). Here every name outside the eval's own
// zone is NXDOMAIN, so for these both scanners judge a different message
// from the one the fixture was written for.
var needsNetwork = []mark{
	{"nice/spf*", "SPF: the sender's SPF record lives in live DNS (SpamAssassin's SPF tests)"},
	{"spam/spf*", "SPF: the sender's SPF record lives in live DNS (SpamAssassin's SPF tests)"},
	{"nice/dmarc/*", "DMARC: the sender's SPF, DKIM key and DMARC record live in live DNS; offline identical to spam/dmarc/*ko.eml"},
	{"spam/dmarc/*", "DMARC: the sender's SPF, DKIM key and DMARC record live in live DNS"},
	{"nice/dkim/*", "DKIM: the d=dkim.org keys live in live DNS"},
	{"spam/dnsbl*", "DNS lists: the client IP and URL domains are listed only in the test's live DNSBL"},
	{"spam/hashbl", "DNS lists: HashBL entries in live DNS"},
	{"spam/razor2", "network: Razor2 servers"},
	{"spam/pyzor", "network: Pyzor servers"},
	{"spam/phishing_*", "feed: the OpenPhish / PhishTank feed file SpamAssassin's test loads"},
	{"spam/decodeshorturl/*", "network: HTTP to the URL shortener to follow the short link"},
	{"spam/redirectors/*", "network: HTTP to follow the redirector"},
	{"spam/relayUS.eml", "data: a GeoIP/ASN database of the relay's country"},
	{"spam/urilocalbl_net.eml", "data: a local URI blocklist of networks (GeoIP/ASN of the URL's host)"},
}

// mislabelled are fixtures whose label or shape is not what their folder
// says. They stay in the figures; the report names them.
var mislabelled = []mark{
	{"nice/dkim/MIMEnowsp_05", "spam under nice/: pharmacy spam (\"Purchase Soma Online\", X-Aztec-Id: spamFN-6, a trap's false negative) kept for its DKIM signature"},
	{"nice/dkim/MIMEsimple_04", "spam under nice/: pharmacy spam (\"Purchase Soma Online\", X-Aztec-Id: spamFN-6, a trap's false negative) kept for its DKIM signature"},
	{"nice/005", "damaged: an empty line after List-Subscribe cuts the header, so its Message-ID, Subject and To are body text"},
}

// markOf is the reason of the first mark of marks matching name, or "".
func markOf(marks []mark, name string) string {
	for _, m := range marks {
		if ok, _ := path.Match(m.pattern, name); ok {
			return m.reason
		}
	}
	return ""
}
