package controller

// mountPages mounts the UI's pages and their menu entries.
func (s *Server) mountPages() {
	s.HandleFunc("GET /{$}", Read, s.dashboard)
	s.AddMenu("Dashboard", "/", Read)
	s.HandleFunc("GET /mail", Read, s.historyPage)
	s.HandleFunc("GET /mail/{id}", Read, s.detailPage)
	s.AddMenu("History", "/mail", Read)
	s.HandleFunc("GET /api/why", Read, s.apiWhy)
	s.mountFixes()
}
