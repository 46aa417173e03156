package rules

// kind is how a field's values are compared.
type kind int

const (
	kindIP   kind = iota // an address: cidr
	kindName             // a domain name: exact, suffix, glob, regex
	kindAddr             // an address or local part: exact, glob, regex
	kindText             // free text: exact, glob, regex (case-insensitive but regex)
	kindBody             // the body text: regex
)

// Needs say what a field reads beyond the envelope and the header: other
// checks' results, or the parsed message.
type Needs int

// The results a field may need.
const (
	NeedSPF Needs = 1 << iota
	NeedDKIM
	NeedDMARC
	NeedContent // the parsed message (URLs, attachments, body text)
	NeedPTR     // the client's PTR name, which the iprev check may know
)

type fieldInfo struct {
	kind  kind
	needs Needs
	doc   string
}

// fields are the values a rule can look at.
var fields = map[string]fieldInfo{
	"ip":               {kindIP, 0, "the client's IP address"},
	"helo":             {kindName, 0, "the HELO/EHLO name"},
	"ptr":              {kindName, NeedPTR, "the client's forward-confirmed reverse DNS (PTR) name"},
	"auth_user":        {kindAddr, 0, "the SMTP AUTH identity"},
	"mail_from":        {kindAddr, 0, "the envelope sender address (\"\" for <>)"},
	"mail_from_domain": {kindName, 0, "the envelope sender's domain"},
	"mail_from_local":  {kindAddr, 0, "the envelope sender's local part"},
	"rcpt":             {kindAddr, 0, "each envelope recipient address"},
	"rcpt_domain":      {kindName, 0, "each envelope recipient's domain"},
	"rcpt_local":       {kindAddr, 0, "each envelope recipient's local part"},
	"header":           {kindText, 0, "each instance of the header field named by header"},
	"from":             {kindAddr, 0, "each From address"},
	"from_domain":      {kindName, 0, "each From domain"},
	"reply_to":         {kindAddr, 0, "each Reply-To address"},
	"reply_to_domain":  {kindName, 0, "each Reply-To domain"},
	"url":              {kindText, NeedContent, "each URL of the text and HTML, as written"},
	"url_host":         {kindName, NeedContent, "each URL's host name"},
	"url_domain":       {kindName, NeedContent, "each URL's registrable domain"},
	"attachment_name":  {kindText, NeedContent, "each attachment's file name, and the names inside archives"},
	"attachment_type":  {kindText, NeedContent, "each attachment's detected type (exe, iso, zip, pdf, …) and declared media type"},
	"body":             {kindBody, NeedContent, "the text parts as a reader sees them (decoded, HTML as visible text)"},
	"spf_domain":       {kindName, NeedSPF, "the domain SPF passed for"},
	"dkim_domain":      {kindName, NeedDKIM, "each d= domain of a DKIM signature that passed"},
	"dmarc_domain":     {kindName, NeedDMARC, "the From domain DMARC passed for"},
}

// allowed lists the match types of each kind; the first is the default.
var allowed = map[kind][]string{
	kindIP:   {"cidr"},
	kindName: {"exact", "suffix", "glob", "regex"},
	kindAddr: {"exact", "glob", "regex"},
	kindText: {"exact", "glob", "regex"},
	kindBody: {"regex"},
}
