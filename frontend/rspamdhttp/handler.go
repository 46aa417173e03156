package rspamdhttp

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
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
	// inflight is the bytes of bodies held by requests now, bounded by
	// cfg.MaxInflight.
	inflight atomic.Int64
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
	body, held, err := h.readBody(w, r)
	defer h.inflight.Add(-held)
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

// Inflight returns the bytes of request bodies held now.
func (h *Handler) Inflight() int64 { return h.inflight.Load() }

// readChunk is the smallest step a body buffer grows by.
const readChunk = 32 << 10

// readBody reads the message, at most MaxBody bytes (413 beyond), within
// BodyTimeout (408 beyond). The buffer grows as bytes arrive, never from
// the declared Content-Length, and each growth is charged to the bytes
// held by all requests: past MaxInflight the request is answered 503.
// held is what was charged; the caller gives it back when done with the
// body.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) (body []byte, held int64, err error) {
	limit := h.cfg.MaxBody
	tooBig := &requestError{code: http.StatusRequestEntityTooLarge,
		msg: fmt.Sprintf("message larger than the limit of %d bytes", limit)}
	if r.ContentLength > limit {
		return nil, 0, tooBig
	}
	// A slow body is cut off. The deadline is lifted once the whole body
	// is in, so that a long scan does not make the server's background
	// read time out and cancel the request; after an error it stays, so
	// that the server's discarding of the rest is bounded too.
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(h.cfg.BodyTimeout)) == nil {
		defer func() {
			if err == nil {
				rc.SetReadDeadline(time.Time{})
			}
		}()
	}
	var src io.Reader = http.MaxBytesReader(w, r.Body, limit)
	if ce := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); ce == "gzip" || ce == "x-gzip" {
		zr, err := gzip.NewReader(src)
		if err != nil {
			if re := readError(err); re.(*requestError).code == http.StatusRequestTimeout {
				return nil, 0, re
			}
			return nil, 0, badRequest("reading gzip body: %v", err)
		}
		defer zr.Close()
		src = zr
	}
	src = io.LimitReader(src, limit+1)
	var buf []byte
	for {
		if len(buf) == cap(buf) {
			grow := max(int64(cap(buf)), readChunk)
			if grow > limit+1-int64(cap(buf)) {
				grow = limit + 1 - int64(cap(buf))
			}
			if h.inflight.Add(grow) > h.cfg.MaxInflight {
				h.inflight.Add(-grow)
				return nil, held, &requestError{code: http.StatusServiceUnavailable,
					msg: fmt.Sprintf("too many message bytes in flight (max_inflight_bytes %d): try again", h.cfg.MaxInflight)}
			}
			held += grow
			nb := make([]byte, len(buf), int64(cap(buf))+grow)
			copy(nb, buf)
			buf = nb
		}
		n, rerr := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, held, tooBig
		}
		if rerr == io.EOF {
			return buf, held, nil
		}
		if rerr != nil {
			var mbe *http.MaxBytesError
			if errors.As(rerr, &mbe) {
				return nil, held, tooBig
			}
			return nil, held, readError(rerr)
		}
	}
}

// readError is the reply to a body that could not be read: 408 when the
// client was too slow, 400 otherwise.
func readError(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
		return &requestError{code: http.StatusRequestTimeout, msg: "the message did not arrive within the body timeout"}
	}
	return badRequest("reading message: %v", err)
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
