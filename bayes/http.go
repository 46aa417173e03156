package bayes

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/hamlet-mail/hamlet/store"
)

// MaxLearnSize bounds a message sent to the learn endpoints.
const MaxLearnSize = 32 << 20

// LearnHandler serves rspamd's controller endpoints POST /learnspam and
// POST /learnham (class says which): the request body is the message, as
// rspamc learn_spam and learn_ham send it. Replies are rspamd's:
// 200 {"success":true} when learned (or relearned as the other class);
// 208 {"error":"…already learned as spam"} when it had been learned as
// this class; 400 for a message with too few tokens; 413 past
// MaxLearnSize; 503 {"error":…} when the store failed. get returns the
// classifier in force (a reload may replace it); nil means learning is
// unavailable (no token store).
func LearnHandler(get func() *Classifier, class store.BayesClass, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := get()
		if c == nil {
			reply(w, http.StatusServiceUnavailable, map[string]any{"error": "the store keeps no Bayes tokens"})
			return
		}
		raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxLearnSize))
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			reply(w, http.StatusRequestEntityTooLarge, map[string]any{"error": fmt.Sprintf("message larger than %d bytes", MaxLearnSize)})
			return
		case err != nil:
			reply(w, http.StatusBadRequest, map[string]any{"error": "reading the message: " + err.Error()})
			return
		}
		l, err := c.LearnMessage(r.Context(), raw, class)
		switch {
		case errors.Is(err, ErrTooFewTokens):
			reply(w, http.StatusBadRequest, map[string]any{"error": fmt.Sprintf("message has %d tokens, too few to learn (at least %d)", l.Tokens, MinTokens)})
			return
		case err != nil:
			log.Warn("bayes: learn failed", "class", class, "err", err)
			reply(w, http.StatusServiceUnavailable, map[string]any{"error": "learning failed: the store is unavailable"})
			return
		}
		log.Info("bayes: learned", "class", class, "outcome", l.Outcome, "digest", l.Digest, "tokens", l.Tokens, "via", "controller")
		if l.Outcome == store.BayesAlready {
			// rspamd answers 208 Already Reported.
			reply(w, http.StatusAlreadyReported, map[string]any{"error": fmt.Sprintf("<%s> has been already learned as %s, ignore it", l.Digest, class)})
			return
		}
		reply(w, http.StatusOK, map[string]any{"success": true})
	})
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
