package rspamdhttp

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/message"
)

// Handler answers rspamd's HTTP protocol. Build it with New.
type Handler struct {
	eng func() *engine.Engine
	cfg Config
	log *slog.Logger
	now func() time.Time // the clock of time_real; tests stop it
}

var _ http.Handler = (*Handler)(nil)

// New returns the handler. eng is called once per request, so that a
// configuration reload can swap engines under a running server; it may
// return nil while none is ready (503). A nil logger means slog.Default.
// Mount it at "/" of the scan listener (127.0.0.1:11333) and of the
// controller (11334), as rspamd answers /checkv2 and /ping on both.
func New(eng func() *engine.Engine, cfg Config, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.Default()
	}
	return &Handler{eng: eng, cfg: cfg.withDefaults(), log: logger, now: time.Now}
}

// ServeHTTP routes a request. rspamd takes the command from the path,
// whatever its case: checkv2; the legacy check, symbols, scan, process,
// report and report_ifspam; ping.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cmd := strings.ToLower(strings.TrimPrefix(r.URL.Path, "/"))
	route := RouteOther
	switch cmd {
	case "checkv2":
		route = RouteCheckV2
	case "check", "symbols", "scan", "process", "report", "report_ifspam":
		route = RouteLegacy
	case "ping":
		route = RoutePing
	}
	rw := &statusWriter{ResponseWriter: w}
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("rspamd http: handler panicked", "path", r.URL.Path, "remote", r.RemoteAddr, "panic", p)
			if rw.code == 0 {
				h.fail(rw, r, http.StatusInternalServerError, "internal error")
			}
		}
		if h.cfg.Metrics != nil {
			code := rw.code
			if code == 0 {
				code = http.StatusOK
			}
			h.cfg.Metrics.Request(route, code)
		}
	}()
	switch route {
	case RoutePing:
		h.ping(rw, r)
	case RouteCheckV2, RouteLegacy:
		h.scan(rw, r, route == RouteLegacy)
	default:
		h.fail(rw, r, http.StatusNotFound, fmt.Sprintf("invalid command %q", clip(r.URL.Path)))
	}
}

// ping answers "pong" and CRLF, as rspamd.
func (h *Handler) ping(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		h.fail(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", "6")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		io.WriteString(w, "pong\r\n")
	}
}

// scan answers /checkv2 (legacy false) and the older commands.
func (h *Handler) scan(w http.ResponseWriter, r *http.Request, legacy bool) {
	start := h.now()
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		h.fail(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed: send the message with POST")
		return
	}
	if err := checkEncoding(r.Header); err != nil {
		h.failErr(w, r, err)
		return
	}
	req, err := parseRequest(r.Header, r.URL.RawQuery, h.cfg.MaxRcpts)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	eng := h.eng()
	if eng == nil {
		h.fail(w, r, http.StatusServiceUnavailable, "no engine configured yet")
		return
	}
	body, err := h.readBody(w, r)
	if err != nil {
		h.failErr(w, r, err)
		return
	}

	timeout := h.cfg.Timeout
	if timeout <= 0 {
		timeout = eng.Timeout() + DefaultTimeoutMargin
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()

	tx := req.Tx
	tx.Message = message.Parse(body)
	v := eng.Scan(ctx, &tx)
	if ctx.Err() != nil && r.Context().Err() != nil {
		// The client went away; nobody reads the reply. 499 is nginx's
		// "client closed request", for the metrics only.
		if sw, ok := w.(*statusWriter); ok {
			sw.code = 499
		}
		h.log.Info("rspamd http: client gone before the reply", "queue_id", tx.QueueID, "remote", r.RemoteAddr)
		return
	}
	if len(req.Flags) > 0 || req.SettingsID != "" || req.DeliverTo != "" {
		h.log.Debug("rspamd http: request options not used by hamlet",
			"queue_id", tx.QueueID, "flags", strings.Join(req.Flags, ","), "settings_id", req.SettingsID, "deliver_to", req.DeliverTo)
	}
	elapsed := h.now().Sub(start)
	var out []byte
	if legacy {
		out = LegacyReply(v, &tx, elapsed)
	} else {
		out = Reply(v, &tx, elapsed)
	}
	// An explicit length: rspamd's C clients read replies to their
	// HTTP/1.0 requests by length, not chunked.
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// checkEncoding refuses request bodies hamlet cannot read: rspamc -z sends
// "Compression: zstd" (rspamd's own header), and HTTPCrypt (rspamc --key)
// encrypts the request. Plain requests, rspamc's default, pass; so does
// the standard Content-Encoding: gzip, which readBody decodes.
func checkEncoding(h http.Header) error {
	if c := strings.TrimSpace(h.Get("Compression")); c != "" && !strings.EqualFold(c, "none") {
		return &requestError{code: http.StatusUnsupportedMediaType,
			msg: fmt.Sprintf("compression %q is not supported: send the message uncompressed (rspamc without -z)", clip(c))}
	}
	switch ce := strings.ToLower(strings.TrimSpace(h.Get("Content-Encoding"))); ce {
	case "", "identity", "gzip", "x-gzip":
	default:
		return &requestError{code: http.StatusUnsupportedMediaType,
			msg: fmt.Sprintf("content encoding %q is not supported", clip(ce))}
	}
	if h.Get("Key") != "" {
		return badRequest("encrypted requests (HTTPCrypt, rspamc --key) are not supported")
	}
	return nil
}

// readBody reads the message, at most MaxBody bytes (413 beyond).
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	max := h.cfg.MaxBody
	tooBig := &requestError{code: http.StatusRequestEntityTooLarge,
		msg: fmt.Sprintf("message larger than the limit of %d bytes", max)}
	if r.ContentLength > max {
		return nil, tooBig
	}
	var src io.Reader = http.MaxBytesReader(w, r.Body, max)
	if ce := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); ce == "gzip" || ce == "x-gzip" {
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, badRequest("reading gzip body: %v", err)
		}
		defer zr.Close()
		// Bound the decompressed size too.
		src = io.LimitReader(zr, max+1)
	}
	var buf bytes.Buffer
	if n := r.ContentLength; n > 0 && n <= max {
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(io.LimitReader(src, max+1))
	if int64(buf.Len()) > max {
		return nil, tooBig
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooBig
		}
		return nil, badRequest("reading message: %v", err)
	}
	return buf.Bytes(), nil
}

// fail writes a JSON error: {"error":"..."}.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	lvl := slog.LevelInfo
	if code >= 500 {
		lvl = slog.LevelError
	}
	h.log.Log(r.Context(), lvl, "rspamd http: request refused",
		"code", code, "path", clip(r.URL.Path), "remote", r.RemoteAddr, "error", msg)
	jw := &jsonWriter{}
	jw.beginObject()
	jw.key("error")
	jw.stringValue(msg)
	jw.endObject()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(jw.b)))
	w.WriteHeader(code)
	w.Write(jw.b)
}

func (h *Handler) failErr(w http.ResponseWriter, r *http.Request, err error) {
	var re *requestError
	if errors.As(err, &re) {
		h.fail(w, r, re.code, re.msg)
		return
	}
	h.fail(w, r, http.StatusInternalServerError, err.Error())
}

// statusWriter remembers the status code for Metrics.
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

// Unwrap lets http.ResponseController reach the connection.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
