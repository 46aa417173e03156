package controller

import (
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// mountRspamdWebUI serves rspamd's own web UI from dir under /rspamd/:
// its files as they are, and its API calls (relative URLs such as
// "stat", "graph?type=day") to this controller's endpoints, behind the
// same access rules (it sends the password in a Password header).
func (s *Server) mountRspamdWebUI(dir string) {
	s.mux.Handle("/rspamd/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, "/rspamd")
		if rest == "/" {
			rest = "/index.html"
		}
		clean := path.Clean(rest)
		if f, err := os.Open(filepath.Join(dir, filepath.FromSlash(clean))); err == nil {
			defer f.Close()
			if st, err := f.Stat(); err == nil && !st.IsDir() && safeMethod(r.Method) {
				// ServeContent, not a FileServer: that one redirects
				// index.html to the directory, and back.
				http.ServeContent(w, r, st.Name(), st.ModTime(), f)
				return
			}
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = clean
		r2.URL.RawPath = ""
		s.mux.ServeHTTP(w, r2)
	}))
}
