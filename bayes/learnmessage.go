package bayes

import (
	"context"
	"errors"
	"fmt"

	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/store"
)

// ErrTooFewTokens is returned by LearnMessage for a message with fewer
// than MinTokens tokens.
var ErrTooFewTokens = errors.New("bayes: too few tokens to learn")

// Learned is what LearnMessage did with one message.
type Learned struct {
	Class   store.BayesClass
	Outcome store.BayesOutcome
	Digest  string
	Tokens  int
}

// String says what happened: "learned as spam (73 tokens)".
func (l Learned) String() string {
	return fmt.Sprintf("%s as %s (%d tokens)", l.Outcome, l.Class, l.Tokens)
}

// LearnMessage tokenizes raw (an RFC 5322 message) and learns it as
// class: what the learn endpoints, the controller's scan page and
// `hamlet learn` through the controller do.
func (c *Classifier) LearnMessage(ctx context.Context, raw []byte, class store.BayesClass) (Learned, error) {
	m := message.Parse(raw)
	toks := TokenizeMessage(m)
	if len(toks) < MinTokens {
		return Learned{Class: class, Tokens: len(toks)}, fmt.Errorf("%w: the message has %d tokens (at least %d)", ErrTooFewTokens, len(toks), MinTokens)
	}
	it := Item(m, toks, class)
	out, err := c.Learn(ctx, it)
	if err != nil {
		return Learned{Class: class, Digest: it.Digest, Tokens: len(toks)}, err
	}
	return Learned{Class: class, Outcome: out[0], Digest: it.Digest, Tokens: len(toks)}, nil
}
