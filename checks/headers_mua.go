package checks

import (
	"regexp"
	"strings"

	"github.com/hamlet-mail/hamlet/content"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/message"
)

// rspamd 3.4's rules on what the mail client and the Message-Id say
// (rules/regexp/headers.lua, regexp/upstream_spam_filters.lua, mid.lua,
// misc.lua's display-name check), with
// its names and default weights.
const (
	SymForgedMUAOutlook   = "FORGED_MUA_OUTLOOK"
	SymOldXMailer         = "OLD_X_MAILER"
	SymForgedMsgIDYahoo   = "FORGED_MSGID_YAHOO"
	SymRatwareMSHash      = "RATWARE_MS_HASH"
	SymSpamFlag           = "SPAM_FLAG"
	SymSpoofDisplayName   = "SPOOF_DISPLAY_NAME"
	SymMIDBareIP          = "MID_BARE_IP"
	SymMIDRHSNotFQDN      = "MID_RHS_NOT_FQDN"
	SymMIDMissingBrackets = "MID_MISSING_BRACKETS"
	SymMIDRHSIPLiteral    = "MID_RHS_IP_LITERAL"
	SymMIDContainsFrom    = "MID_CONTAINS_FROM"
	SymMIDRHSMatchFrom    = "MID_RHS_MATCH_FROM"
	SymMIDRHSMatchFromTLD = "MID_RHS_MATCH_FROMTLD"
	SymMIDContainsTo      = "MID_CONTAINS_TO"
	SymMIDRHSMatchTo      = "MID_RHS_MATCH_TO"
)

var muaSymbols = []engine.SymbolDef{
	{Name: SymForgedMUAOutlook, Weight: 3.0, Group: "mua", Description: "Forged outlook MUA"},
	{Name: SymOldXMailer, Weight: 2.0, Group: "headers", Description: "X-Mailer has a very old MUA version"},
	{Name: SymForgedMsgIDYahoo, Weight: 2.0, Group: "headers", Description: "Forged yahoo msgid"},
	{Name: SymRatwareMSHash, Weight: 2.0, Group: "headers", Description: "Forged Exchange messages"},
	{Name: SymSpamFlag, Weight: 5.0, Group: "upstream_spam_filters", Description: "Message was already marked as spam"},
	{Name: SymSpoofDisplayName, Weight: 8.0, Group: "headers", Description: "Display name is being used to spoof and trick the recipient"},
	{Name: SymMIDBareIP, Weight: 2.0, Group: "mid", Description: "Message-ID RHS is a bare IP address"},
	{Name: SymMIDRHSNotFQDN, Weight: 0.5, Group: "mid", Description: "Message-ID RHS is not a fully-qualified domain name"},
	{Name: SymMIDMissingBrackets, Weight: 0.5, Group: "mid", Description: "Message-ID is missing <>'s"},
	{Name: SymMIDRHSIPLiteral, Weight: 0.5, Group: "mid", Description: "Message-ID RHS is an IP-literal"},
	{Name: SymMIDContainsFrom, Weight: 1.0, Group: "mid", Description: "Message-ID contains From address"},
	{Name: SymMIDRHSMatchFrom, Weight: 0, Group: "mid", Description: "Message-ID RHS matches From domain"},
	{Name: SymMIDRHSMatchFromTLD, Weight: 0, Group: "mid", Description: "Message-ID RHS matches From domain tld"},
	{Name: SymMIDContainsTo, Weight: 1.0, Group: "mid", Description: "Message-ID contains To address"},
	{Name: SymMIDRHSMatchTo, Weight: 1.0, Group: "mid", Description: "Message-ID RHS matches To domain"},
}

// The header patterns, as rspamd writes them (RE2 has what they use).
var (
	// Outlook Express and Outlook X-Mailers, and the Message-Id shapes
	// the genuine programs write.
	oeMUARE          = regexp.MustCompile(`\bOutlook Express [456]\.`)
	oeMsgID1RE       = regexp.MustCompile(`^<?[A-Za-z0-9-]{7}[A-Za-z0-9]{20}@hotmail\.com>?$`)
	oeMsgID2RE       = regexp.MustCompile(`^<?(?:[0-9a-f]{8}|[0-9a-f]{12})\$[0-9a-f]{8}\$[0-9a-f]{8}@\S+>?$`)
	outlookDollarsRE = regexp.MustCompile(`^Microsoft Outlook(?: 8| CWS, Build 9|, Build 10)\.`)
	outlookOtherRE   = regexp.MustCompile(`^<?!~!>?`)
	vistaMsgIDRE     = regexp.MustCompile(`^<?[A-F\d]{32}@\S+>?$`)
	imsMsgIDRE       = regexp.MustCompile(`^<?[A-F\d]{36,40}@\S+>?$`)
	// Message-Ids and fields of remailers that rewrite the Message-Id,
	// so that the client's own shape is lost.
	lyrisUnsubRE   = regexp.MustCompile(`<mailto:(?:leave-\S+|\S+-unsubscribe)@\S+>$`)
	hotmailMsgIDRE = regexp.MustCompile(`^<?BAY\d+-DAV\d+[A-Z0-9]{25}@phx\.gbl?>$`)
	sympaticoRE    = regexp.MustCompile(`^<?BAYC\d+-PASMTP\d+[A-Z0-9]{25}@CEZ\.ICE>?$`)
	mailmanMsgIDRE = regexp.MustCompile(`^<mailman\.\d+\.\d+\.\d+\.[-+.:=\w]+@[-a-zA-Z\d.]+>$`)
	// Two Outlook builds rspamd exempts from FORGED_MUA_OUTLOOK.
	outlookExemptRE = regexp.MustCompile(`^(?:Microsoft Outlook, Build 10\.0\.3416|Microsoft Outlook Express 6\.00\.3790\.3959)$`)
	// OLD_X_MAILER: clients out of support for a decade that spam
	// software still names.
	oldXMailerRE = regexp.MustCompile(`^(?:Microsoft Outlook Express|QUALCOMM Windows Eudora (Pro )?Version [1-6]\.|The Bat! \(v[12]\.|Microsoft Outlook IMO, Build 9\.0\.|Microsoft Outlook, Build 10\.|i(Phone|Pad) Mail \((?:[1-8][A-L]|12H|13E))`)
	// FORGED_MSGID_YAHOO.
	yahooRE = regexp.MustCompile(`(?i)@yahoo\.com\b`)
	// RATWARE_MS_HASH: an Exchange-shaped Message-Id without Exchange.
	msHashMsgIDRE = regexp.MustCompile(`[0-9a-f]{4,}\$[0-9a-f]{4,}\$[0-9a-f]{4,}@\S+`)
	mimeOLERE     = regexp.MustCompile(`^Produced By Microsoft MimeOLE`)
	// SPAM_FLAG.
	spamFlagRE = regexp.MustCompile(`(?i)^(?:yes|true)`)
	// mid.lua.
	midBareIPRE    = regexp.MustCompile(`@\d+\.\d+\.\d+\.\d+>$`)
	midNotFQDNRE   = regexp.MustCompile(`@[^.]+>?$`)
	midBracketsRE  = regexp.MustCompile(`^<[^>]+>$`)
	midIPLiteralRE = regexp.MustCompile(`@\[\d+\.\d+\.\d+\.\d+\]`)
	midRHSRE       = regexp.MustCompile(`@([^>]+)>?$`)
)

// headerValues are the values of every field named name, unfolded,
// encoded words decoded, surrounding space trimmed (rspamd's /H).
func headerValues(m *message.Message, name string) []string {
	fs := m.Get(name)
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, strings.TrimSpace(message.DecodeHeader(f.Unfolded())))
	}
	return out
}

// anyMatch is rspamd's Field=/re/H: some field of that name matches.
func anyMatch(vals []string, re *regexp.Regexp) bool {
	for _, v := range vals {
		if re.MatchString(v) {
			return true
		}
	}
	return false
}

// receivedHas reports whether some Received field holds one of the
// literal texts (rspamd's Received=/text/H rules without metacharacters).
func receivedHas(m *message.Message, texts ...string) bool {
	for _, f := range m.Get("Received") {
		v := f.Unfolded()
		for _, t := range texts {
			if strings.Contains(v, t) {
				return true
			}
		}
	}
	return false
}

// muaChecks adds the symbols of what the mail client, the Message-Id and
// the From display name say; from1 is the first From mailbox (nil when
// none), mimeRcpts the To and Cc mailboxes.
func muaChecks(m *message.Message, tx *engine.Transaction, from1 *addr, mimeRcpts []addr, add func(string, ...string)) {
	mailer := headerValues(m, "X-Mailer")
	mids := headerValues(m, "Message-ID")
	// A remailer rewrote the Message-Id (or the Received fields are of
	// servers that write their own): the client's shape is lost.
	unusable := func() bool {
		return anyMatch(headerValues(m, "List-Unsubscribe"), lyrisUnsubRE) ||
			anyMatch(mids, hotmailMsgIDRE) || anyMatch(mids, sympaticoRE) || anyMatch(mids, mailmanMsgIDRE) ||
			receivedHas(m, "/CWT/DCE)", "iPlanet Messaging Server")
	}
	forgedOE := anyMatch(mailer, oeMUARE) && !anyMatch(mids, oeMsgID1RE) && !anyMatch(mids, oeMsgID2RE)
	forgedDollars := anyMatch(mailer, outlookDollarsRE) && !anyMatch(mids, oeMsgID2RE) && !anyMatch(mids, outlookOtherRE) &&
		!anyMatch(mids, vistaMsgIDRE) && !anyMatch(mids, imsMsgIDRE)
	if (forgedOE || forgedDollars) && !anyMatch(mailer, outlookExemptRE) && !anyMatch(mids, vistaMsgIDRE) && !unusable() {
		add(SymForgedMUAOutlook)
	}
	if anyMatch(mailer, oldXMailerRE) {
		add(SymOldXMailer)
	}
	if anyMatch(mids, yahooRE) && !anyMatch(headerValues(m, "From"), yahooRE) {
		add(SymForgedMsgIDYahoo)
	}
	if anyMatch(mids, msHashMsgIDRE) && !anyMatch(headerValues(m, "X-MimeOLE"), mimeOLERE) && !receivedHas(m, "with Microsoft Exchange Server") {
		add(SymRatwareMSHash)
	}
	for _, name := range []string{"X-Spam-Flag", "X-Spam", "X-Spam-Status"} {
		if anyMatch(headerValues(m, name), spamFlagRE) {
			add(SymSpamFlag, name)
			break
		}
	}

	// The From display name holding an address of another domain, which
	// is the recipient's own: "it@your-company" <someone@elsewhere>.
	if from1 != nil && strings.Contains(from1.name, "@") {
		if list, err := message.ParseAddressList(from1.name); err == nil && len(list) > 0 {
			spoof := strings.ToLower(strings.TrimSuffix(list[0].Domain, "."))
			if strings.Contains(spoof, ".") && spoof != from1.domain {
				match := false
				for _, r := range mimeRcpts {
					match = match || r.domain == spoof
				}
				for _, r := range tx.Rcpts {
					match = match || strings.EqualFold(domainOf(r), spoof)
				}
				if match {
					add(SymSpoofDisplayName, from1.domain, spoof)
				}
			}
		}
	}

	if len(mids) == 0 {
		return
	}
	mid := mids[0]
	if midBareIPRE.MatchString(mid) {
		add(SymMIDBareIP)
	}
	if midNotFQDNRE.MatchString(mid) {
		add(SymMIDRHSNotFQDN)
	}
	if !midBracketsRE.MatchString(mid) {
		add(SymMIDMissingBrackets)
	}
	if midIPLiteralRE.MatchString(mid) {
		add(SymMIDRHSIPLiteral)
	}
	lmid := strings.ToLower(mid)
	md := ""
	if sm := midRHSRE.FindStringSubmatch(lmid); sm != nil {
		md = sm[1]
	}
	fd := ""
	if from1 != nil && from1.domain != "" {
		fd = from1.domain
		switch {
		case strings.Contains(lmid, from1.lower):
			add(SymMIDContainsFrom)
		case md != "" && md == fd:
			add(SymMIDRHSMatchFrom)
		case md != "" && content.RegistrableDomain(md) != "" && content.RegistrableDomain(md) == content.RegistrableDomain(fd):
			add(SymMIDRHSMatchFromTLD)
		}
	}
	if len(mimeRcpts) > 0 && mimeRcpts[0].domain != "" && mimeRcpts[0].domain != fd {
		switch to := mimeRcpts[0]; {
		case strings.Contains(lmid, to.lower):
			add(SymMIDContainsTo)
		case md != "" && md == to.domain:
			add(SymMIDRHSMatchTo)
		}
	}
}
