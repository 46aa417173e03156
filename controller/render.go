package controller

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hamlet-mail/hamlet/store"
)

//go:embed ui/templates/*.html ui/static/*
var uiFS embed.FS

var (
	tmplOnce sync.Once
	tmpls    map[string]*template.Template
	tmplErr  error
)

var funcs = template.FuncMap{
	"actionClass": func(a string) string { return "a-" + strings.ReplaceAll(a, " ", "-") },
	"shown":       func(r store.HistoryRecord) string { return shownAction(&r) },
	"pct": func(n, total int64) string {
		if total == 0 {
			return "0%"
		}
		p := 100 * float64(n) / float64(total)
		if p > 0 && p < 0.1 {
			return "<0.1%"
		}
		return fmt.Sprintf("%.1f%%", p)
	},
	"score": func(f float64) string { return fmt.Sprintf("%.2f", f) },
	"signed": func(f float64) string {
		if f > 0 {
			return fmt.Sprintf("+%.2f", f)
		}
		return fmt.Sprintf("%.2f", f)
	},
	"symClass": func(f float64) string {
		switch {
		case f > 0:
			return "sym pos"
		case f < 0:
			return "sym neg"
		}
		return "sym"
	},
	"time":       func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") },
	"short":      func(t time.Time) string { return t.Local().Format("Jan 02 15:04") },
	"wbr":        wbr,
	"join":       strings.Join,
	"num":        formatInt,
	"num64u":     func(n uint64) string { return formatInt(int64(n)) },
	"abs":        math.Abs,
	"add":        func(a, b int) int { return a + b },
	"int64":      func(n int) int64 { return int64(n) },
	"fixCtx":     func(f Fix, csrf, back string) fixCtx { return fixCtx{f, csrf, back} },
	"tomlString": tomlString,
}

// tomlString quotes s as a TOML basic string (TOML 1.0, "String"): `"` and
// `\` are escaped, and so are the control characters TOML does not allow
// in a basic string (U+0000–U+001F and U+007F). Invalid UTF-8 becomes
// U+FFFD, since a TOML file is UTF-8. The template HTML-escapes the result.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s { // invalid UTF-8 comes as U+FFFD
		switch {
		case c == '"':
			b.WriteString(`\"`)
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\b':
			b.WriteString(`\b`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\f':
			b.WriteString(`\f`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, c)
		default:
			b.WriteRune(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// fixCtx is what the "fixform" template draws a fix button from.
type fixCtx struct {
	Fix        Fix
	CSRF, Back string
}

func formatInt(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func loadTemplates() (map[string]*template.Template, error) {
	tmplOnce.Do(func() {
		layout, err := template.New("layout").Funcs(funcs).ParseFS(uiFS, "ui/templates/layout.html")
		if err != nil {
			tmplErr = err
			return
		}
		pages, err := fs.Glob(uiFS, "ui/templates/*.html")
		if err != nil {
			tmplErr = err
			return
		}
		tmpls = map[string]*template.Template{}
		for _, p := range pages {
			name := strings.TrimSuffix(strings.TrimPrefix(p, "ui/templates/"), ".html")
			if name == "layout" {
				continue
			}
			t, err := template.Must(layout.Clone()).ParseFS(uiFS, p)
			if err != nil {
				tmplErr = fmt.Errorf("template %s: %w", name, err)
				return
			}
			tmpls[name] = t
		}
	})
	return tmpls, tmplErr
}

// page is what every template gets.
type page struct {
	Title      string
	Active     string
	Menu       []MenuItem
	Who        string
	Level      string
	CSRF       string
	Admin      bool
	Flash      string
	FlashClass string
	Data       any
}

// render writes the named page template with the layout.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name, title string, data any) {
	ts, err := loadTemplates()
	t := ts[name]
	if err != nil || t == nil {
		s.log.Error("controller: template", "name", name, "err", err)
		http.Error(w, "internal error: template "+name, http.StatusInternalServerError)
		return
	}
	who := WhoFrom(r)
	p := page{Title: title, Active: r.URL.Path, Menu: s.Menu(r), CSRF: CSRFToken(r), Admin: who.Level >= Admin, Data: data}
	if who.Level > Public {
		p.Who, p.Level = who.String(), who.Level.String()
	}
	if f := flashFrom(r); f != "" {
		p.Flash = f
		if strings.HasPrefix(f, "error:") {
			p.FlashClass = "bad"
		}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.Error("controller: rendering", "name", name, "err", err)
		http.Error(w, "internal error rendering "+name, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// staticHandler serves the embedded CSS, script and icon.
func staticHandler() http.Handler {
	sub, _ := fs.Sub(uiFS, "ui/static")
	fsrv := http.StripPrefix("/static/", http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(w, r)
	})
}

// wbr escapes a symbol name and lets a narrow screen break it after each
// underscore (REPLYTO_<wbr>DOM_<wbr>NEQ_<wbr>…).
func wbr(name string) template.HTML {
	return template.HTML(strings.ReplaceAll(template.HTMLEscapeString(name), "_", "_<wbr>"))
}
