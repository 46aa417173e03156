package dnstest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// Server is a small authoritative DNS server on loopback for integration
// tests. It serves the records of zone text (RFC 1035 master file format,
// $ORIGIN "." unless the text sets one) over UDP and TCP on the same port,
// follows CNAMEs inside its data, answers NXDOMAIN or NODATA with a SOA
// (so that negative answers can be cached, RFC 2308), truncates UDP answers
// larger than the client's EDNS0 size (512 without EDNS0), and can be told
// to never answer, or to SERVFAIL, for a name, or to lose or delay a
// share of all queries (Lossy). It counts the queries it receives per name
// and type.
type Server struct {
	udp, tcp *mdns.Server
	addr     string

	mu       sync.Mutex
	records  map[string][]mdns.RR // by lower-case FQDN
	names    map[string]bool      // every owner name and its ancestors
	hang     map[string]bool
	servfail map[string]bool
	delay    map[string]time.Duration
	counts   map[string]int // "TYPE name" → queries

	// Lossy: shares of queries dropped and delayed, the delay, and how
	// many were.
	dropRate, delayRate float64
	lossyDelay          time.Duration
	rng                 *rand.Rand
	dropped, delayed    int
}

// NewServer starts a server on 127.0.0.1 with a random port. Use Close.
func NewServer(zone string) (*Server, error) {
	return NewServerAt("127.0.0.1:0", zone)
}

// NewServerAt starts a server on addr ("127.0.0.1:0" for a random port,
// or e.g. "127.0.0.1:53" inside a private network namespace).
func NewServerAt(addr, zone string) (*Server, error) {
	s := &Server{
		records: map[string][]mdns.RR{}, names: map[string]bool{},
		hang: map[string]bool{}, servfail: map[string]bool{},
		delay: map[string]time.Duration{}, counts: map[string]int{},
	}
	if err := s.Add(zone); err != nil {
		return nil, err
	}
	pc, ln, err := listenBoth(addr)
	if err != nil {
		return nil, err
	}
	s.addr = pc.LocalAddr().String()
	h := mdns.HandlerFunc(s.serve)
	s.udp = &mdns.Server{PacketConn: pc, Handler: h}
	s.tcp = &mdns.Server{Listener: ln, Handler: h}
	started := make(chan struct{}, 2)
	s.udp.NotifyStartedFunc = func() { started <- struct{}{} }
	s.tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	go s.udp.ActivateAndServe()
	go s.tcp.ActivateAndServe()
	<-started
	<-started
	return s, nil
}

// listenBoth opens UDP and TCP on the same port. With port 0 the UDP port
// is chosen by the system and its TCP twin may be taken: try again.
func listenBoth(addr string) (net.PacketConn, net.Listener, error) {
	var err error
	for i := 0; i < 20; i++ {
		var pc net.PacketConn
		pc, err = net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, err
		}
		var ln net.Listener
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if _, port, _ := net.SplitHostPort(addr); port != "0" {
			break
		}
	}
	return nil, nil, err
}

// Addr returns the host:port the server listens on (UDP and TCP).
func (s *Server) Addr() string { return s.addr }

// Close stops the server.
func (s *Server) Close() {
	s.udp.Shutdown()
	s.tcp.Shutdown()
}

// Add loads more records from zone text.
func (s *Server) Add(zone string) error {
	zp := mdns.NewZoneParser(strings.NewReader(zone), ".", "")
	zp.SetDefaultTTL(300)
	s.mu.Lock()
	defer s.mu.Unlock()
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		name := strings.ToLower(rr.Header().Name)
		s.records[name] = append(s.records[name], rr)
		for n := name; n != "."; {
			s.names[n] = true
			_, rest, _ := strings.Cut(n, ".")
			if rest == "" {
				break
			}
			n = rest
		}
	}
	if err := zp.Err(); err != nil {
		return fmt.Errorf("dnstest: zone: %w", err)
	}
	return nil
}

// Hang makes the server never answer queries for name.
func (s *Server) Hang(name string) { s.set(s.hang, name, true) }

// ServFail makes the server answer SERVFAIL for name.
func (s *Server) ServFail(name string) { s.set(s.servfail, name, true) }

// Delay makes the server wait d before answering queries for name.
func (s *Server) Delay(name string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay[mdns.Fqdn(strings.ToLower(name))] = d
}

// Lossy makes the server, for every name, drop the share drop of the
// queries (no answer: the client's timeout and retry) and answer the share
// delay of them d late, as a congested network or resolver would. The
// choice is pseudo-random from a fixed seed. Lossy(0, 0, 0) ends it.
func (s *Server) Lossy(drop, delay float64, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropRate, s.delayRate, s.lossyDelay = drop, delay, d
	s.rng = rand.New(rand.NewPCG(1, 2))
}

// Lost returns how many queries Lossy dropped and delayed.
func (s *Server) Lost() (dropped, delayed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped, s.delayed
}

// Reset clears the hang/servfail/delay/lossy settings and the counters.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang, s.servfail = map[string]bool{}, map[string]bool{}
	s.delay, s.counts = map[string]time.Duration{}, map[string]int{}
	s.dropRate, s.delayRate, s.lossyDelay, s.dropped, s.delayed = 0, 0, 0, 0, 0
}

func (s *Server) set(m map[string]bool, name string, v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m[mdns.Fqdn(strings.ToLower(name))] = v
}

// Count returns how many queries of type typ ("TXT", "A", …) for name
// the server received.
func (s *Server) Count(typ, name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[strings.ToUpper(typ)+" "+mdns.Fqdn(strings.ToLower(name))]
}

// Total returns how many queries the server received.
func (s *Server) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.counts {
		n += c
	}
	return n
}

var soa = func() mdns.RR {
	rr, _ := mdns.NewRR(". 60 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60")
	return rr
}()

func (s *Server) serve(w mdns.ResponseWriter, req *mdns.Msg) {
	if len(req.Question) != 1 {
		m := new(mdns.Msg)
		m.SetRcode(req, mdns.RcodeFormatError)
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	s.mu.Lock()
	s.counts[mdns.TypeToString[q.Qtype]+" "+name]++
	hang, fail, delay := s.hang[name], s.servfail[name], s.delay[name]
	if s.dropRate > 0 || s.delayRate > 0 {
		switch r := s.rng.Float64(); {
		case r < s.dropRate:
			hang = true
			s.dropped++
		case r < s.dropRate+s.delayRate:
			delay = max(delay, s.lossyDelay)
			s.delayed++
		}
	}
	s.mu.Unlock()
	if hang {
		return
	}
	if delay > 0 {
		time.Sleep(delay)
	}
	m := new(mdns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if fail {
		m.Rcode = mdns.RcodeServerFailure
		w.WriteMsg(m)
		return
	}
	s.mu.Lock()
	cur, found := name, false
	for hop := 0; hop < 16 && !found; hop++ {
		var cname *mdns.CNAME
		for _, rr := range s.records[cur] {
			if rr.Header().Rrtype == q.Qtype {
				m.Answer = append(m.Answer, rr)
				found = true
			} else if c, ok := rr.(*mdns.CNAME); ok && q.Qtype != mdns.TypeCNAME {
				cname = c
			}
		}
		if found || cname == nil {
			break
		}
		m.Answer = append(m.Answer, cname)
		cur = strings.ToLower(cname.Target)
	}
	exists := s.names[cur]
	s.mu.Unlock()
	if !found {
		if !exists {
			m.Rcode = mdns.RcodeNameError
		}
		m.Ns = []mdns.RR{soa}
	}
	size := 512
	if opt := req.IsEdns0(); opt != nil {
		size = int(opt.UDPSize())
		m.SetEdns0(opt.UDPSize(), false)
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		m.Truncate(size)
	}
	w.WriteMsg(m)
}
