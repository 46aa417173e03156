package controller

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/store/recorder"
)

// maxTrySize bounds a message pasted or uploaded on the scan page.
const maxTrySize = 10 << 20

type tryData struct {
	IP, Helo, From, Rcpt, Message string
	Error                         string
	Done                          bool
	Ex                            Explanation
	Action                        string
	Score                         float64
	// CanLearn: the caller may learn the message (an admin, and a
	// classifier exists); Learned is what learning it did.
	CanLearn bool
	Learned  string
}

func (s *Server) tryPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "try", "Scan a message", tryData{IP: "192.0.2.1", Helo: "mail.example.net", CanLearn: s.canLearn(r)})
}

func (s *Server) canLearn(r *http.Request) bool {
	return s.src.Learn != nil && WhoFrom(r).Level >= Admin
}

// tryForm reads the scan page's form.
func (s *Server) tryForm(r *http.Request) tryData {
	return tryData{IP: strings.TrimSpace(r.FormValue("ip")), Helo: strings.TrimSpace(r.FormValue("helo")),
		From: strings.TrimSpace(r.FormValue("from")), Rcpt: strings.TrimSpace(r.FormValue("rcpt")), Message: r.FormValue("message"), CanLearn: s.canLearn(r)}
}

// crlf gives a pasted message (a browser sends CRLF, a paste may not)
// CRLF line ends.
func crlf(m string) []byte {
	return []byte(strings.ReplaceAll(strings.ReplaceAll(m, "\r\n", "\n"), "\n", "\r\n"))
}

// tryLearn learns the message of the scan page's form as spam or ham
// (class), then shows the page again with what it did.
func (s *Server) tryLearn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxTrySize+1<<20)
	d := s.tryForm(r)
	class := r.FormValue("class")
	if class != "spam" && class != "ham" {
		d.Error = "learn as spam or ham"
		s.render(w, r, http.StatusBadRequest, "try", "Scan a message", d)
		return
	}
	if strings.TrimSpace(d.Message) == "" {
		d.Error = "paste a message or choose a file"
		s.render(w, r, http.StatusBadRequest, "try", "Scan a message", d)
		return
	}
	raw := crlf(d.Message)
	out, err := s.src.Learn(r.Context(), raw, class == "spam")
	if err != nil {
		d.Error = "learning failed: " + err.Error()
		s.render(w, r, http.StatusServiceUnavailable, "try", "Scan a message", d)
		return
	}
	s.Audit(r, "learn", "class", class, "outcome", out, "bytes", len(raw))
	d.Learned = capital(out)
	s.render(w, r, http.StatusOK, "try", "Scan a message", d)
}

func (s *Server) tryScan(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxTrySize+1<<20)
	d := s.tryForm(r)
	if f, _, err := r.FormFile("file"); err == nil {
		b, err := io.ReadAll(io.LimitReader(f, maxTrySize))
		f.Close()
		if err == nil && len(b) > 0 {
			d.Message = string(b)
		}
	}
	tx := &engine.Transaction{Helo: d.Helo, MailFrom: strings.Trim(d.From, "<>"), QueueID: "scan-page"}
	if d.IP != "" {
		ip, err := netip.ParseAddr(d.IP)
		if err != nil {
			d.Error = "client IP: " + err.Error()
			s.render(w, r, http.StatusBadRequest, "try", "Scan a message", d)
			return
		}
		tx.ClientIP = ip
	}
	for _, a := range strings.FieldsFunc(d.Rcpt, func(c rune) bool { return c == ',' || c == ' ' || c == '\n' }) {
		tx.Rcpts = append(tx.Rcpts, strings.Trim(a, "<>"))
	}
	if strings.TrimSpace(d.Message) == "" {
		d.Error = "paste a message or choose a file"
		s.render(w, r, http.StatusBadRequest, "try", "Scan a message", d)
		return
	}
	tx.Message = message.Parse(crlf(d.Message))
	eng := s.src.Engine()
	ctx, cancel := context.WithTimeout(r.Context(), eng.Timeout()+5*time.Second)
	defer cancel()
	v := eng.DryScan(ctx, tx)
	rec := recorder.Record(tx, v, time.Now())
	d.Done, d.Action, d.Score, d.Ex = true, rec.Action, rec.Score, Explain(rec, eng)
	if len(d.Message) > 200000 {
		d.Message = "" // do not send a large message back
	}
	s.render(w, r, http.StatusOK, "try", "Scan a message", d)
}
