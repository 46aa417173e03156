// Package checks turns the standards packages' results (spf, dkim, dmarc,
// arc, iprev, dnsbl, senderscore, content, bayes, fuzzy, rules) into
// rspamd's symbols: each check is an engine.Check that runs at one stage
// of the SMTP transaction, and each finisher an engine.Finisher that runs
// once the verdict is known (greylisting, Authentication-Results, DKIM
// signing, ARC sealing). daemon/build.go registers them from the TOML
// sections below, in this order; a check never decides the action, the
// policy does ([actions], [symbols], [force]).
//
// # The map of the checks
//
// Name is what engine.Check.Name returns (the name in logs, metrics, the
// controller and [force]); stage is the engine.Phase it runs at, "finish"
// for a finisher; after are the checks whose results it waits for (only
// when they are registered); symbols are those it emits (weights in
// Symbols, rspamd's names); reply is where the text of an SMTP rejection it
// forces comes from. TestCheckMap keeps this table true.
//
//	name            stage    section                   file            after
//	iprev           connect  [rdns]                    iprev.go        -
//	    symbols: RDNS_NONE RDNS_DNSFAIL RDNS_FCRDNS_FAIL RDNS_FCRDNS_DNSFAIL RDNS_FCRDNS_PASS
//	    reply:   [rdns] no_rdns_message, fcrdns_fail_message (with reject_no_rdns, reject_fcrdns_fail)
//	senderscore     connect  [senderscore]             senderscore.go  -
//	    symbols: RBL_SENDERSCORE_REPUT_BAD RBL_SENDERSCORE_REPUT_LOW RBL_SENDERSCORE_REPUT_GOOD RBL_SENDERSCORE_REPUT_BLOCKED
//	    reply:   [senderscore] message (%d is the score), for scores <= block_below
//	dnsbl           connect  [dnsbl]                   dnsbl.go        -
//	dnsbl_helo      helo     [dnsbl]                   dnsbl.go        iprev
//	dnsbl_mailfrom  mail     [dnsbl]                   dnsbl.go        -
//	dnsbl_from      data     [dnsbl]                   dnsbl.go        -
//	dnsbl_url       data     [dnsbl]                   dnsbl.go        -
//	    symbols: each [[dnsbl.list]]'s symbol and its [[dnsbl.list.code]] symbols (the defaults: dnsbl.DefaultLists)
//	    reply:   [[dnsbl.list]] message (with reject = true), else "5.7.1 Service unavailable; <subject> blocked using <zone>"
//	hfilter         helo     [hfilter]                 hfilter.go      iprev
//	    symbols: HFILTER_HELO_BAREIP HFILTER_HELO_BADIP HFILTER_HELO_NOT_FQDN HFILTER_HELO_NORES_A_OR_MX HFILTER_HELO_NORESOLVE_MX HFILTER_HELO_IP_A HFILTER_HELO_DNSFAIL HFILTER_HELO_FORGED HFILTER_HOSTNAME_UNKNOWN
//	    reply:   none (never forces)
//	spf             mail     (always)                  spf.go          -
//	    symbols: R_SPF_ALLOW R_SPF_FAIL R_SPF_SOFTFAIL R_SPF_NEUTRAL R_SPF_NA R_SPF_DNSFAIL R_SPF_PERMFAIL
//	    reply:   none (a fail is scored; DMARC decides rejections)
//	dkim            data     (always)                  dkim.go         -
//	    symbols: R_DKIM_ALLOW R_DKIM_REJECT R_DKIM_TEMPFAIL R_DKIM_PERMFAIL R_DKIM_NA
//	    reply:   none
//	dkim_replay     data     [dkim.replay]             dkimreplay.go   dkim spf
//	    symbols: DKIM_REPLAY
//	    reply:   none (never forces)
//	arc             data     (always)                  arc.go          -
//	    symbols: ARC_ALLOW ARC_REJECT ARC_INVALID ARC_DNSFAIL ARC_NA
//	    reply:   none
//	headers         data     [headers]                 headers.go      iprev
//	    symbols: HeaderSymbols (FROM_*, REPLYTO_*, FREEMAIL_*, MISSING_*, DATE_*, SUBJ_ALL_CAPS, ONCE_RECEIVED …)
//	    reply:   none
//	antivirus       data     [antivirus]               antivirus.go    -
//	    symbols: CLAM_VIRUS CLAM_VIRUS_FAIL CLAM_VIRUS_ENCRYPTED CLAM_VIRUS_MACRO
//	    reply:   [antivirus] message (${VIRUS} is the name), with action = "reject" or "soft_reject"
//	dmarc           data     [dmarc]                   dmarc.go        spf dkim arc
//	    symbols: DMARC_POLICY_ALLOW DMARC_POLICY_REJECT DMARC_POLICY_QUARANTINE DMARC_POLICY_SOFTFAIL DMARC_NA DMARC_BAD_POLICY DMARC_DNSFAIL
//	    reply:   [dmarc] reject_message + " (<From domain>)", with reject = true and p=reject
//	content         data     [content]                 content.go      dmarc
//	    symbols: ContentSymbols (MIME_*, HTML_*, R_SUSPICIOUS_URL, PHISHING, URL_SHORTENER …; package content)
//	    reply:   none (never forces)
//	bayes           data     [bayes]                   bayes.go        -
//	    symbols: BAYES_SPAM BAYES_HAM BAYES_UNTRAINED BAYES_ERROR (package bayes)
//	    reply:   none
//	fuzzy           data     [fuzzy]                   fuzzy.go        -
//	    symbols: FUZZY_DENIED FUZZY_PROB FUZZY_WHITE FUZZY_ERROR (package fuzzy; one per list of fuzzy.Lists)
//	    reply:   none
//	rules           data     [[rules]], [rule_files]   rules.go        spf dkim dmarc iprev
//	    symbols: the rules' names (package rules); waits only for the checks its rules read
//	    reply:   [[rules]] message, with action = "reject" or "soft_reject"
//	rules_pre_result finish  [[rules]]                 rules.go        -
//	    symbols: none (applies pre_result = "accept" and "skip_greylist")
//	greylist        finish   [greylist]                greylist.go     -
//	    symbols: GREYLIST GREYLIST_ERROR
//	    reply:   [greylist] message, answered 451 4.7.1
//	authentication_results finish [authentication_results] authres.go -
//	    symbols: none (adds the Authentication-Results field, RFC 8601)
//	dkim_sign       finish   [[dkim.sign]]             dkimsign.go     -
//	    symbols: DKIM_SIGNED
//	arc_seal        finish   [arc]                     arcseal.go      -
//	    symbols: ARC_SIGNED
//
// iprev, hfilter, spf, dkim, arc, dmarc and antivirus name the symbol
// they get when the deadline ends them (engine.TimeoutSymboler: their
// *_DNSFAIL, CLAM_VIRUS_FAIL), and the engine adds CHECK_TIMEOUT for a
// check that did not answer at all.
//
// # Where a reply text comes from
//
// A check that forces reject or soft reject sets engine.Symbol.Message
// from its section (the reply column above). The policy (engine/policy.go)
// keeps the message of the symbol that forced the action as
// Verdict.Reply; a score-based action gets engine.DefaultPolicy's
// "5.7.1 Message rejected as spam" or "4.7.1 Try again later"; greylisting
// sets its own. The front ends send Verdict.Reply: milter and OpenSMTPD
// through milter.FormatReply (frontend/milter/message.go: "550 5.7.1
// text", the text's own enhanced code kept when it fits), rspamd's HTTP
// protocol as messages.smtp_message (frontend/rspamdhttp/reply.go). When
// hamlet itself fails, the reply is [milter] tempfail_reply (on_error =
// "tempfail"), never a 5xx.
package checks
