// Package engine runs the checks of a scan and turns their symbols into a
// verdict. A Scan grows phase by phase (connect, helo, mail, rcpt, data);
// each Check starts as soon as its phase is reached and the checks it
// depends on have finished, so DNS work overlaps the SMTP dialogue. A Policy
// sums the symbol weights and maps the score to an action, as rspamd does.
//
// The engine knows no protocol, no store and no standard: front ends feed
// it, checks (package checks) and finishers plug into it.
package engine
