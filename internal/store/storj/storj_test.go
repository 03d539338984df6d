package storj

// These tests need no Storj network; the backend's behaviour against a real
// one is tested in test/storj (testplanet).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"storj.io/common/grant"
	"storj.io/common/macaroon"
	"storj.io/common/rpc/rpcstatus"
	"storj.io/common/storj"
	"storj.io/common/testrand"
	"storj.io/uplink"

	"github.com/dfsreg/dfsreg/internal/store"
)

func TestHandleRoundTrip(t *testing.T) {
	for _, h := range []handle{
		{id: strings.Repeat("ab", 16)},
		{id: strings.Repeat("01", 16), uploadID: "3yLb9dC7qZ"},
		{id: strings.Repeat("f0", 16), parts: 3, inParts: 3 * 64 << 20, uploadID: "3yLb9dC7qZ"},
	} {
		got, err := parseHandle(h.String())
		if err != nil || got != h {
			t.Errorf("parseHandle(%q) = %+v, %v; want %+v", h.String(), got, err, h)
		}
	}
	for _, s := range []string{
		"",
		"sj1",
		"sj2:" + strings.Repeat("ab", 16) + ":0:0:",
		"sj1:" + strings.Repeat("AB", 16) + ":0:0:",     // upper-case id
		"sj1:" + strings.Repeat("ab", 15) + ":0:0:",     // short id
		"sj1:../../../../etc/passwd/aaaaaaaaaaa:0:0:",   // path in the id
		"sj1:" + strings.Repeat("ab", 16) + ":-1:0:",    // negative parts
		"sj1:" + strings.Repeat("ab", 16) + ":1:0:x",    // parts without bytes
		"sj1:" + strings.Repeat("ab", 16) + ":1:10:",    // parts without an upload
		"sj1:" + strings.Repeat("ab", 16) + ":0:0:a/b",  // not base58
		"sj1:" + strings.Repeat("ab", 16) + ":0:0:a:b",  // too many fields
		"sj1:" + strings.Repeat("ab", 16) + ":x:0:abc",  // not a number
		"sj1:" + strings.Repeat("ab", 16) + ":1:1e3:ab", // not an integer
	} {
		if h, err := parseHandle(s); err == nil {
			t.Errorf("parseHandle(%q) = %+v, want an error", s, h)
		}
	}
}

func TestTransient(t *testing.T) {
	netErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{context.Canceled, false},
		{fmt.Errorf("uplink: %w", context.Canceled), false},
		{store.ErrDigestMismatch, false},
		{fmt.Errorf("uplink: %w", uplink.ErrObjectNotFound), false},
		{fmt.Errorf("uplink: %w", uplink.ErrBucketNotFound), false},
		{fmt.Errorf("uplink: %w", uplink.ErrUploadIDInvalid), false},
		{fmt.Errorf("uplink: %w", uplink.ErrPermissionDenied), false},
		{fmt.Errorf("uplink: %w", uplink.ErrStorageLimitExceeded), false},
		{rpcstatus.Error(rpcstatus.InvalidArgument, "bad"), false},
		{rpcstatus.Error(rpcstatus.FailedPrecondition, "part too small"), false},
		{rpcstatus.Error(rpcstatus.Unauthenticated, "who"), false},
		{rpcstatus.Error(rpcstatus.BucketNameInvalid, "name"), false},
		{fmt.Errorf("uplink: %w", uplink.ErrTooManyRequests), true},
		{rpcstatus.Error(rpcstatus.Unavailable, "busy"), true},
		{rpcstatus.Error(rpcstatus.Internal, "oops"), true},
		{fmt.Errorf("rpc: %w", netErr), true},
		{errors.New("uplink: failed to upload enough pieces"), true},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// grantFor makes a well-formed access grant for a satellite at addr.
func grantFor(t *testing.T, addr string) string {
	t.Helper()
	key, err := macaroon.NewAPIKey(testrand.Bytes(32))
	if err != nil {
		t.Fatal(err)
	}
	k := testrand.Key()
	g := grant.Access{
		SatelliteAddress: testrand.NodeID().String() + "@" + addr,
		APIKey:           key,
		EncAccess:        grant.NewEncryptionAccessWithDefaultKey(&k),
	}
	g.EncAccess.SetDefaultPathCipher(storj.EncAESGCM)
	s, err := g.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestNewUnreachable: a satellite that does not answer is a clear startup
// error that does not show the grant.
func TestNewUnreachable(t *testing.T) {
	// A "satellite" that hangs up on every connection.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	addr := l.Addr().String()
	g := grantFor(t, addr)
	var retried int
	_, err = New(t.Context(), Config{Bucket: "b", AccessGrant: g, SpoolDir: t.TempDir(), Retries: 2,
		OnRetry: func(err error) { retried++ }})
	if err == nil {
		t.Fatal("New with an unreachable satellite succeeded")
	}
	t.Log(err)
	if !strings.Contains(err.Error(), `checking bucket "b" on satellite`) || !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not say which satellite it could not reach", err)
	}
	if strings.Contains(err.Error(), g) {
		t.Errorf("error shows the access grant: %q", err)
	}
	if retried != 1 {
		t.Errorf("%d retries, want 1 (Retries: 2)", retried)
	}
}

func TestScrub(t *testing.T) {
	b := &Backend{secret: "SECRETGRANT"}
	err := b.scrub(fmt.Errorf("wrapped: %w", errors.New("parse SECRETGRANT failed")))
	if strings.Contains(err.Error(), "SECRETGRANT") || !strings.Contains(err.Error(), "[access grant]") {
		t.Errorf("scrubbed error %q", err)
	}
	if err := b.scrub(errors.New("nothing secret")); err.Error() != "nothing secret" {
		t.Errorf("scrub changed %q", err)
	}
}
