package controller

// mountPages mounts the UI's pages and their menu entries.
func (s *Server) mountPages() {
	s.HandleFunc("GET /{$}", Read, s.dashboard)
	s.AddMenu("Dashboard", "/", Read)
	s.HandleFunc("GET /mail", Read, s.historyPage)
	s.HandleFunc("GET /mail/{id}", Read, s.detailPage)
	s.AddMenu("History", "/mail", Read)
	if s.src.Greylist != nil {
		s.HandleFunc("GET /greylist", Read, s.greylistPage)
		s.AddMenu("Greylist", "/greylist", Read)
	}
	s.HandleFunc("GET /api/why", Read, s.apiWhy)
	s.HandleFunc("GET /whatif", Read, s.whatIfPage)
	s.AddMenu("What if", "/whatif", Read)
	s.HandleFunc("GET /try", Read, s.tryPage)
	s.HandleFunc("POST /try", Read, s.tryScan)
	if s.src.Learn != nil {
		s.HandleFunc("POST /try/learn", Admin, s.tryLearn)
	}
	s.AddMenu("Scan", "/try", Read)
	s.HandleFunc("GET /config", Read, s.configPage)
	s.AddMenu("Configuration", "/config", Read)
	s.mountFixes()
}
