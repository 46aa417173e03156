package bayes

import (
	"regexp"

	"github.com/hamlet-mail/hamlet/message"
)

var hostRE = regexp.MustCompile(`https?://([A-Za-z0-9.-]+)`)

// testInput reads the plain-text messages of mailgen.
func testInput(m *message.Message) Input {
	in := Input{Texts: []string{string(m.Body)}}
	in.Subject, _ = m.First("Subject")
	for _, f := range m.Fields {
		in.Headers = append(in.Headers, Header{f.Name, f.Unfolded()})
	}
	for _, h := range hostRE.FindAllStringSubmatch(string(m.Body), -1) {
		in.URLHosts = append(in.URLHosts, h[1])
	}
	return in
}
