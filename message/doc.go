// Package message is hamlet's reading of an Internet message: the header
// fields, the addresses in them, and the MIME tree. Every check that looks
// at a message starts from the *Message the front end parsed once; package
// header, beside it, writes fields.
//
// It does four things:
//
//   - message.go splits a message into its header fields and body without
//     losing a byte (RFC 5322 §2.2, §3.6): DKIM and ARC hash the fields
//     exactly as they were received, so a Field keeps its raw text. Parse
//     never fails: malformed input (bare LF line ends, a missing blank
//     line, header lines without a colon, NUL bytes) gives a Message whose
//     Problems say what was wrong; the caller decides what that is worth.
//   - address.go parses address fields with ParseAddressList (the grammar
//     of RFC 5322 §3.4 is in addrparse.go: mailboxes, groups, display
//     names, quoted local parts, domain literals, the obsolete forms of
//     §4.4), normalizes domains as DNS and DMARC compare them
//     (NormalizeDomain: IDNA A-labels, RFC 5890) and finds the author
//     domains DMARC evaluates (FromDomains, RFC 7489 §6.6.1).
//   - mime.go walks the MIME tree (RFC 2045, RFC 2046) with ParseMIME,
//     within Limits, and decodes base64 and quoted-printable bodies.
//   - charset.go converts charsets to UTF-8 and decodes RFC 2047 encoded
//     words (DecodeHeader).
//
// The content stage (package content) builds its findings on the MIME
// tree parsed here, once per message.
package message
