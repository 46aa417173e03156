// Package dkim verifies and creates DomainKeys Identified Mail signatures:
// RFC 6376 (DKIM), RFC 8463 (ed25519-sha256) and RFC 8301 (algorithm and
// key-size update).
//
// Verify checks every DKIM-Signature of a message (up to a bound) and
// returns one Result per signature, with RFC 8601 §2.7.1 result words.
// Sign produces a DKIM-Signature field value. The building blocks —
// tag-list parsing (§3.2), key records (§3.6.1), header and body
// canonicalization (§3.4), header selection (§5.4.2), body hashing (§3.7)
// and the signature primitives (§3.3) — are exported so that ARC (RFC
// 8617, package arc) reuses them rather than repeating them.
//
// What this package does not do: it does not evaluate DMARC alignment,
// does not write Authentication-Results, does not support the obsolete
// DomainKeys (RFC 4870) "DomainKey-Signature" header or the RFC 4871 g=
// key tag (both gone from RFC 6376), and ignores z= (copied header fields,
// a diagnostic aid). Signatures without v=1, as drafts before RFC 4871
// wrote them, are permerror. rsa-sha1 signatures and RSA keys shorter than
// 1024 bits never verify (RFC 8301 §3.1, §3.2); they are reported with
// status "policy".
package dkim
