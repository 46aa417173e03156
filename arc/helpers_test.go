package arc

import "github.com/hamlet-mail/hamlet/dns"

type dnstestKind = dns.Kind

const dnsServFail = dns.ServFail
