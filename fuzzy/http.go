package fuzzy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/hamlet-mail/hamlet/content"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/store"
)

// MaxMessageSize bounds a message sent to the endpoints.
const MaxMessageSize = 32 << 20

// The rspamd controller endpoints, as rspamc calls them:
//
//	rspamc fuzzy_add [-f FLAG] [-w WEIGHT] msg   POST /fuzzyadd (Flag, Weight, Symbol headers)
//	rspamc fuzzy_del [-f FLAG] msg               POST /fuzzydel
//	rspamc fuzzy_delhash HASH...                 GET  /fuzzydelhash (Hash headers)
//
// Replies: 200 {"success":true,"hashes":[…]} (the digests added or
// deleted); 400 for a message with nothing to hash or a bad flag, weight
// or hash; 404 from fuzzydel and fuzzydelhash when none was stored; 413
// past MaxMessageSize; 503 when the store failed or keeps no hashes. get
// returns the DB in force (a reload may replace it).

// AddHandler serves POST /fuzzyadd.
func AddHandler(get func() *DB, log *slog.Logger) http.Handler {
	log = orDefault(log)
	return messageHandler(get, log, func(w http.ResponseWriter, r *http.Request, d *DB, hs []Hash) {
		flag, err := flagOf(r)
		if err != nil {
			reply(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
			return
		}
		weight := int64(1)
		if v := r.Header.Get("Weight"); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 1 || f > 1e6 {
				reply(w, http.StatusBadRequest, map[string]any{"error": fmt.Sprintf("bad Weight %q (a number from 1 to 1000000)", v)})
				return
			}
			weight = int64(f)
		}
		if err := d.Add(r.Context(), hs, flag, weight); err != nil {
			storeFailed(w, log, "add", err)
			return
		}
		log.Info("fuzzy: added", "flag", flag, "weight", weight, "hashes", digests(hs), "via", "controller")
		reply(w, http.StatusOK, map[string]any{"success": true, "hashes": digests(hs)})
	})
}

// DelHandler serves POST /fuzzydel: the message's own digests are
// removed.
func DelHandler(get func() *DB, log *slog.Logger) http.Handler {
	log = orDefault(log)
	return messageHandler(get, log, func(w http.ResponseWriter, r *http.Request, d *DB, hs []Hash) {
		del(w, r, d, log, digests(hs))
	})
}

// DelHashHandler serves /fuzzydelhash: the digests in the Hash headers.
func DelHashHandler(get func() *DB, log *slog.Logger) http.Handler {
	log = orDefault(log)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := get()
		if d == nil {
			reply(w, http.StatusServiceUnavailable, map[string]any{"error": "the store keeps no fuzzy hashes"})
			return
		}
		var ds []string
		for _, v := range r.Header.Values("Hash") {
			for _, h := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
				h = strings.ToLower(h)
				if err := store.CheckFuzzyDigest(h); err != nil {
					reply(w, http.StatusBadRequest, map[string]any{"error": fmt.Sprintf("bad hash %.40q: want the %d hex digits shown in the symbol's option", h, store.FuzzyDigestLen)})
					return
				}
				ds = append(ds, h)
			}
		}
		if len(ds) == 0 {
			reply(w, http.StatusBadRequest, map[string]any{"error": "no Hash header"})
			return
		}
		del(w, r, d, log, ds)
	})
}

func del(w http.ResponseWriter, r *http.Request, d *DB, log *slog.Logger, ds []string) {
	n, err := d.Delete(r.Context(), ds)
	if err != nil {
		storeFailed(w, log, "delete", err)
		return
	}
	log.Info("fuzzy: deleted", "hashes", ds, "stored", n, "via", "controller")
	if n == 0 {
		reply(w, http.StatusNotFound, map[string]any{"error": "no such hash stored", "hashes": ds})
		return
	}
	reply(w, http.StatusOK, map[string]any{"success": true, "hashes": ds, "deleted": n})
}

// messageHandler reads and hashes the request's message, then calls fn.
func messageHandler(get func() *DB, log *slog.Logger, fn func(http.ResponseWriter, *http.Request, *DB, []Hash)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := get()
		if d == nil {
			reply(w, http.StatusServiceUnavailable, map[string]any{"error": "the store keeps no fuzzy hashes"})
			return
		}
		raw, ok := readMessage(w, r)
		if !ok {
			return
		}
		lim := d.cfg.Limits()
		lim.SkipImages = r.Header.Get("Skip-Images") == "true"
		lim.SkipAttachments = r.Header.Get("Skip-Attachments") == "true"
		hs := FromContent(content.Parse(message.Parse(raw), content.Limits{}), lim)
		if len(hs) == 0 {
			reply(w, http.StatusBadRequest, map[string]any{"error": fmt.Sprintf("nothing to hash: no text of %d words or more, no attachment of %d bytes or more", lim.MinWords, lim.MinBytes)})
			return
		}
		fn(w, r, d, hs)
	})
}

func readMessage(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxMessageSize))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		reply(w, http.StatusRequestEntityTooLarge, map[string]any{"error": fmt.Sprintf("message larger than %d bytes", MaxMessageSize)})
		return nil, false
	case err != nil:
		reply(w, http.StatusBadRequest, map[string]any{"error": "reading the message: " + err.Error()})
		return nil, false
	}
	return raw, true
}

// flagOf reads rspamc's Flag or Symbol header (default: denied).
func flagOf(r *http.Request) (uint32, error) {
	if s := r.Header.Get("Symbol"); s != "" {
		f, ok := FlagOf(s)
		if !ok {
			return 0, fmt.Errorf("unknown fuzzy symbol %q (FUZZY_DENIED, FUZZY_PROB or FUZZY_WHITE)", s)
		}
		return f, nil
	}
	v := r.Header.Get("Flag")
	if v == "" {
		return FlagDenied, nil
	}
	f, err := strconv.ParseUint(v, 10, 32)
	if _, ok := ListOf(uint32(f)); err != nil || !ok {
		return 0, fmt.Errorf("unknown fuzzy flag %q (1 denied, 2 probable, 3 white)", v)
	}
	return uint32(f), nil
}

func storeFailed(w http.ResponseWriter, log *slog.Logger, op string, err error) {
	if errors.Is(err, store.ErrInvalid) {
		reply(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
		return
	}
	log.Warn("fuzzy: store failed", "op", op, "err", err)
	reply(w, http.StatusServiceUnavailable, map[string]any{"error": op + " failed: the store is unavailable"})
}

func digests(hs []Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.Digest
	}
	return out
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// LearnHandler wraps the Bayes learn endpoint (/learnspam or /learnham):
// when it answers 200 (learned, not "already learned") and [fuzzy] learn
// is on, learn_spam also stores the message's hashes as denied and
// learn_ham removes the denied hashes the message matches. A fuzzy
// failure is logged and does not change the reply.
func LearnHandler(next http.Handler, get func() *DB, spam bool, log *slog.Logger) http.Handler {
	log = orDefault(log)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := get()
		if d == nil || !d.cfg.Learn {
			next.ServeHTTP(w, r)
			return
		}
		raw, ok := readMessage(w, r)
		if !ok {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(raw))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.code != http.StatusOK {
			return
		}
		if _, err := d.LearnMessage(r.Context(), raw, spam); err != nil {
			log.Warn("fuzzy: learning failed", "spam", spam, "err", err)
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func orDefault(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.Default()
	}
	return log
}

// StatsHandler serves GET /api/fuzzy: the number of hashes and the
// settings that decide what matches.
func StatsHandler(get func() *DB, log *slog.Logger) http.Handler {
	log = orDefault(log)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := get()
		if d == nil {
			reply(w, http.StatusServiceUnavailable, map[string]any{"error": "the store keeps no fuzzy hashes"})
			return
		}
		st, err := d.Stats(r.Context())
		if err != nil {
			storeFailed(w, log, "stats", err)
			return
		}
		c := d.cfg
		reply(w, http.StatusOK, map[string]any{"hashes": st.Hashes, "enabled": c.Enabled, "learn": c.Learn, "learn_weight": c.LearnWeight,
			"min_words": c.MinWords, "min_bytes": c.MinBytes, "expire": c.Expire.String(), "max_hashes": c.MaxHashes})
	})
}
