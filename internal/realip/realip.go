// Package realip finds a request's client behind trusted reverse proxies:
// behind a proxy every request comes from the proxy's address, and limits
// keyed on it (request rate, failed logins) would throttle all clients as
// one.
package realip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrusted parses proxy addresses and CIDRs ("10.0.0.0/8",
// "192.0.2.7", "2001:db8::/32").
func ParseTrusted(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP address nor a CIDR", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func trustedAddr(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Client returns the client of a request that came from peer with the
// X-Forwarded-For header values xff. Only a trusted peer's header counts;
// each proxy appends the address it got the request from, so the list is
// read from its end, past trusted proxies, and the first address that is not
// one is the client (what a client wrote into the header itself is further
// left and never reached). ok is false, and the peer is the client, when
// the peer is not trusted, the header is missing, or an entry read does not
// parse.
func Client(peer netip.Addr, xff []string, trusted []netip.Prefix) (client netip.Addr, ok bool) {
	peer = peer.Unmap()
	if !trustedAddr(peer, trusted) {
		return peer, false
	}
	var hops []string
	for _, v := range xff {
		hops = append(hops, strings.Split(v, ",")...)
	}
	var last netip.Addr
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := parseHop(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer, false
		}
		if !trustedAddr(a, trusted) {
			return a, true
		}
		last = a
	}
	if last.IsValid() { // every hop is a trusted proxy: the first one sent it
		return last, true
	}
	return peer, false
}

// parseHop parses an X-Forwarded-For entry: an address, with or without a
// port ("192.0.2.1", "192.0.2.1:4711", "[2001:db8::1]:4711").
func parseHop(s string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.Addr{}, err
	}
	return ap.Addr().Unmap(), nil
}

// Handler makes the client found by Client the request's RemoteAddr (an
// address without a port) for next, and everything it keys on the client:
// rate limits, failed-login limits, logs. With no trusted proxies it is
// next itself.
func Handler(trusted []netip.Prefix, next http.Handler) http.Handler {
	if len(trusted) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		peer, err := netip.ParseAddr(host)
		if err == nil {
			if client, ok := Client(peer, r.Header.Values("X-Forwarded-For"), trusted); ok {
				r = r.WithContext(r.Context()) // a shallow copy: the caller's request stays as it was
				r.RemoteAddr = client.String()
			}
		}
		next.ServeHTTP(w, r)
	})
}
