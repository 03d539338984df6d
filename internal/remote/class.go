package remote

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// The failures a client explains to its user. Class tells which one an
// error of Dial or a Repository method is.
var (
	// ErrAuth: the registry wants credentials it was not given, or
	// refused those it was given.
	ErrAuth = errors.New("authentication required")
	// ErrUnreachable: the registry does not answer (or not in the
	// protocol asked for).
	ErrUnreachable = errors.New("registry unreachable")
	// ErrNotFound: the repository, tag, manifest or blob does not exist.
	ErrNotFound = errors.New("unknown reference")
)

// Class returns ErrAuth, ErrUnreachable or ErrNotFound for an err that is
// one, nil otherwise.
func Class(err error) error {
	if err == nil {
		return nil
	}
	if status, codes := Status(err); status != 0 {
		switch {
		case status == http.StatusUnauthorized || status == http.StatusForbidden || hasCode(codes, "UNAUTHORIZED", "DENIED"):
			return ErrAuth
		case status == http.StatusNotFound || hasCode(codes, "MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN"):
			return ErrNotFound
		}
		return nil
	}
	var ne net.Error
	var oe *net.OpError
	var de *net.DNSError
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.As(err, &oe) || errors.As(err, &de) || (errors.As(err, &ne) && ne.Timeout()) ||
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return ErrUnreachable
	}
	return nil
}

// Status is the HTTP status and OCI error codes of the registry's answer
// err reports (from a Repository method, or from Dial's ping and token
// requests); 0 when err is not an answer.
func Status(err error) (status int, codes []string) {
	var e *Error
	var te *transport.Error
	switch {
	case errors.As(err, &e):
		return e.Status, e.Codes
	case errors.As(err, &te):
		for _, d := range te.Errors {
			codes = append(codes, string(d.Code))
		}
		return te.StatusCode, codes
	}
	return 0, nil
}

func hasCode(codes []string, want ...string) bool {
	for _, c := range codes {
		for _, w := range want {
			if c == w {
				return true
			}
		}
	}
	return false
}
