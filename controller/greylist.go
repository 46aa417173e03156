package controller

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/greylist"
	"github.com/hamlet-mail/hamlet/store"
)

// mountGreylist serves the greylist admin API of the greylister in force
// (a reload may replace it; grey returns the current one):
//
//	GET    /api/greylist[?limit=N]   → 200 greylist.Listing
//	POST   /api/greylist/allow       {"target": "192.0.2.0/24", "reason": "…", "ttl": "30d"} → 201 store.AllowEntry
//	DELETE /api/greylist/{key}       → 204, or 404 when absent (key URL-escaped)
//
// Errors are JSON {"error": "..."} with 400 (bad request), 404 or 503
// (store failed). Writes need the admin level and are logged with who
// made them.
func (s *Server) mountGreylist(grey func() *greylist.Greylister) {
	s.HandleFunc("GET /api/greylist", Read, func(w http.ResponseWriter, r *http.Request) {
		limit := 1000
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 || n > 100000 {
				writeErr(w, http.StatusBadRequest, "limit: want 1..100000")
				return
			}
			limit = n
		}
		l, err := grey().List(r.Context(), limit)
		if err != nil {
			writeErr(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, l)
	})
	s.HandleFunc("POST /api/greylist/allow", Admin, func(w http.ResponseWriter, r *http.Request) {
		var req allowRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeErr(w, http.StatusBadRequest, "bad JSON: "+err.Error())
			return
		}
		var ttl duration.Duration
		if req.TTL != "" {
			if err := ttl.UnmarshalText([]byte(req.TTL)); err != nil {
				writeErr(w, http.StatusBadRequest, "ttl: "+err.Error())
				return
			}
		}
		e, err := s.allow(r, grey(), req.Target, req.Reason, ttl)
		switch {
		case errors.Is(err, greylist.ErrBadTarget), errors.Is(err, store.ErrInvalid):
			writeErr(w, http.StatusBadRequest, err.Error())
		case err != nil:
			writeErr(w, http.StatusServiceUnavailable, err.Error())
		default:
			writeJSON(w, http.StatusCreated, e)
		}
	})
	s.HandleFunc("DELETE /api/greylist/{key...}", Admin, func(w http.ResponseWriter, r *http.Request) {
		ok, err := s.drop(r, grey(), r.PathValue("key"))
		switch {
		case err != nil:
			writeErr(w, http.StatusServiceUnavailable, err.Error())
		case !ok:
			writeErr(w, http.StatusNotFound, "no such entry")
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
}

// allow allowlists target and logs who did it.
func (s *Server) allow(r *http.Request, g *greylist.Greylister, target, reason string, ttl duration.Duration) (store.AllowEntry, error) {
	if reason == "" {
		reason = "by " + WhoFrom(r).By
	}
	e, err := g.Allow(r.Context(), target, reason, ttl.D())
	if err == nil {
		s.Audit(r, "allowlist add", "key", e.Key, "reason", e.Reason, "ttl", ttl.D().String())
	}
	return e, err
}

// drop removes a greylist or allowlist entry and logs who did it.
func (s *Server) drop(r *http.Request, g *greylist.Greylister, key string) (bool, error) {
	ok, err := g.Drop(r.Context(), key)
	if err == nil && ok {
		s.Audit(r, "greylist/allowlist drop", "key", key)
	}
	return ok, err
}

type allowRequest struct {
	Target string `json:"target"`
	Reason string `json:"reason,omitempty"`
	TTL    string `json:"ttl,omitempty"`
}
