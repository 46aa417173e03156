package controller

import (
	"html/template"
	"net/http"
)

// RenderHTML writes body inside the UI's layout (menu, login state,
// styles, security headers): for pages that other packages mount with
// Handle and draw themselves (with html/template, so that body is safe).
func (s *Server) RenderHTML(w http.ResponseWriter, r *http.Request, code int, title string, body template.HTML) {
	s.render(w, r, code, "_html", title, body)
}
