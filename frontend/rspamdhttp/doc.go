// Package rspamdhttp is hamlet's front end for rspamd's HTTP protocol, so
// that existing rspamd clients (rspamc, OpenSMTPD's filter-rspamd,
// Haraka's and Exim's rspamd support) scan with hamlet unchanged.
//
// POST /checkv2 takes the raw message as the body and the SMTP
// transaction in request headers (IP, Helo, Hostname, From, Rcpt,
// Queue-Id, User, MTA-Name, …; see ParseRequest), scans it with the
// engine and answers with rspamd 3.x's JSON reply (see Reply). The legacy
// commands rspamd 3.x still answers (/check, /symbols, …) get the legacy
// reply (LegacyReply); GET /ping answers "pong".
//
// Errors are JSON objects {"error":"…"}: 400 for a malformed request
// (e.g. an IP header that is no address), 404 for an unknown command, 413
// for a message over Config.MaxBody, 415 for a compressed (rspamc -z) or
// otherwise encoded body hamlet cannot read, 503 when no engine is ready.
//
// This package does not implement rspamd's HTTPCrypt encryption, zstd
// compression, the Settings/Settings-ID mechanism (hamlet has no rspamd
// settings; the header is read and ignored), URL or email extraction
// ("urls"/"emails" are never in the reply), the spamc/SpamAssassin
// protocol, or rspamd's controller commands (learning, stat, history);
// the controller's own endpoints live elsewhere.
package rspamdhttp
