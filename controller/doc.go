// Package controller is hamlet's controller: the HTTP server on
// 127.0.0.1:11334 that serves the web UI, rspamd's controller API
// (/auth, /stat, /graph, /pie, /history, /historyreset, /actions,
// /symbols, /errors, /counters, so that rspamc and rspamd's own web UI
// work), hamlet's JSON API (/api/greylist, /api/doctor, …) and Prometheus'
// /metrics — and the one place where access to them is decided.
//
// # Mounting a handler (the seam other packages use)
//
// Everything served on the controller is mounted on a *Server with an
// access level; the server applies the Host check, authentication and
// CSRF protection before the handler runs, so a handler only does its
// job:
//
//	srv.Handle("POST /learnspam", controller.Admin, learnHandler)
//	srv.Handle("GET /dmarc/reports", controller.Read, reportsPage)
//	srv.Page("GET /dmarc", controller.Read, "DMARC", dmarcPage) // a page in the UI's menu
//
// Patterns are net/http.ServeMux patterns. Levels: Public (no login:
// /ping, the login form), Read (the read-only password suffices) and Admin
// (the admin password; every state-changing endpoint). A handler can ask
// who is calling with WhoFrom(r) (for the log line every write must
// carry) and, for a form it renders, CSRFToken(r) (put it in a hidden
// field named "csrf_token", or send it in an X-CSRF-Token header).
//
// # Access rules
//
//   - Host: only configured names ([controller] hosts, the host name),
//     "localhost" and IP literals are accepted, so a DNS-rebinding page
//     cannot reach the controller under a name of its own (421 otherwise).
//   - No password configured: loopback clients may use every endpoint, as
//     rspamd's secure_ip allows (rspamc on the host works out of the box);
//     other clients get 403, and hamlet refuses to start with the
//     controller listening beyond loopback (ValidateListen).
//   - Passwords: a read-only "password" and an admin "enable_password", as
//     rspamd has, stored only as argon2id or bcrypt hashes (`hamlet
//     passwd`). Clients send one in a "Password" header (rspamc, rspamd's
//     web UI) or as HTTP basic auth (Prometheus); browsers log in with a
//     form and get a session cookie (HttpOnly, SameSite=Strict, Secure
//     under TLS). Failed logins are rate-limited per client address.
//   - A browser's request (one carrying Origin, Sec-Fetch-Site or a
//     cookie) is never trusted for being on loopback alone: cross-origin
//     requests are refused (net/http.CrossOriginProtection, and
//     Sec-Fetch-Site for reads), and every state-changing request from a
//     browser must carry the session's CSRF token.
//
// What this package does not do: it keeps no state of its own beyond
// sessions and counters in memory (history and statistics are the
// store's), and it never changes the configuration file — the UI shows
// the TOML lines to paste instead.
package controller
