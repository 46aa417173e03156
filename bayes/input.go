package bayes

import (
	"strings"

	"github.com/hamlet-mail/hamlet/content"
	"github.com/hamlet-mail/hamlet/message"
)

// FromContent takes the tokenizer's input from the content stage's parsed
// message: the decoded subject and texts (an HTML part's visible text),
// the header fields of TokenHeaders (encoded words decoded), the URL
// hosts, and each attachment's declared and detected type and name.
func FromContent(c *content.Message) Input {
	in := Input{Subject: c.Subject}
	for _, t := range c.Texts {
		in.Texts = append(in.Texts, t.Text)
	}
	if c.Msg != nil {
		for _, f := range c.Msg.Fields {
			if _, ok := TokenHeaders[strings.ToLower(f.Name)]; ok {
				in.Headers = append(in.Headers, Header{f.Name, message.DecodeHeader(f.Unfolded())})
			}
		}
	}
	for _, u := range c.URLs {
		if u.Host != "" {
			in.URLHosts = append(in.URLHosts, u.Host)
		}
	}
	for _, a := range c.Attachments {
		in.Attachments = append(in.Attachments, Attachment{ContentType: a.Declared, Filename: a.Filename})
		if a.Detected != "" {
			in.Attachments = append(in.Attachments, Attachment{ContentType: "detected/" + a.Detected})
		}
	}
	return in
}

// TokenizeMessage parses a message outside a scan (learning from a file
// or the controller) and tokenizes it.
func TokenizeMessage(m *message.Message) Tokens {
	return Tokenize(FromContent(content.Parse(m, content.Limits{})))
}
