package ratelimit

import (
	"testing"
	"time"
)

func TestAllow(t *testing.T) {
	clock := time.Unix(1000, 0)
	l := New(10, 3) // a token every 100ms, 3 at once
	l.now = func() time.Time { return clock }
	steps := []struct {
		advance time.Duration
		key     string
		want    bool
	}{
		{0, "a", true}, {0, "a", true}, {0, "a", true},
		{0, "a", false},                     // burst spent
		{0, "b", true},                      // another client has its own bucket
		{50 * time.Millisecond, "a", false}, // half a token
		{50 * time.Millisecond, "a", true},  // one token back
		{0, "a", false},
		{time.Second, "a", true}, {0, "a", true}, {0, "a", true}, // refilled to burst, not beyond
		{0, "a", false},
	}
	for i, s := range steps {
		clock = clock.Add(s.advance)
		ok, retry := l.Allow(s.key)
		if ok != s.want {
			t.Fatalf("step %d (%s after %v): allowed %v, want %v", i, s.key, s.advance, ok, s.want)
		}
		if !ok && (retry <= 0 || retry > 100*time.Millisecond) {
			t.Errorf("step %d: retry after %v, want (0, 100ms]", i, retry)
		}
	}
}

func TestSweepForgetsQuietClients(t *testing.T) {
	clock := time.Unix(1000, 0)
	l := New(100, 10) // refills in 100ms; swept at most every second
	l.now = func() time.Time { return clock }
	for _, k := range []string{"a", "b", "c"} {
		l.Allow(k)
	}
	if n := l.Len(); n != 3 {
		t.Fatalf("tracking %d clients, want 3", n)
	}
	clock = clock.Add(2 * time.Second)
	l.Allow("d")
	if n := l.Len(); n != 1 {
		t.Fatalf("after the quiet period tracking %d clients, want 1 (d)", n)
	}
	// a forgotten client starts with a full bucket: same as if remembered
	for i := range 10 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d of a returning client refused", i)
		}
	}
}

func TestNilAllowsAll(t *testing.T) {
	l := New(0, 5)
	if l != nil {
		t.Fatal("rate 0 should give no limiter")
	}
	for range 1000 {
		if ok, _ := l.Allow("x"); !ok {
			t.Fatal("nil limiter refused")
		}
	}
}

func TestClientKey(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"127.0.0.1:5000", "127.0.0.1"},
		{"[::ffff:10.0.0.1]:80", "10.0.0.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:443", "2001:db8:1:2::/64"},
		{"[::1]:1", "::/64"},
		{"not-an-addr", "not-an-addr"},
		{"203.0.113.5", "203.0.113.5"},                // bare, as realip sets it
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"}, // bare IPv6
	} {
		if got := ClientKey(c.in); got != c.want {
			t.Errorf("ClientKey(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestWait(t *testing.T) {
	clock := time.Unix(1000, 0)
	l := New(0.05, 3) // 3 per minute: a token every 20s
	l.SetClock(func() time.Time { return clock })
	for _, s := range []struct {
		advance time.Duration
		take    bool
		want    time.Duration
	}{
		{0, false, 0}, // unknown key: a full bucket
		{0, true, 0}, {0, true, 0},
		{0, false, 0}, // one token left, and Wait takes none
		{0, false, 0},
		{0, true, 20 * time.Second}, // empty
		{5 * time.Second, false, 15 * time.Second},
		{15 * time.Second, false, 0}, // refilled by one
		{0, true, 20 * time.Second},
	} {
		clock = clock.Add(s.advance)
		if s.take {
			l.Allow("a")
		}
		if got := l.Wait("a"); got.Round(time.Millisecond) != s.want {
			t.Fatalf("after %v (take %v): wait %v, want %v", s.advance, s.take, got, s.want)
		}
	}
	if w := (*Limiter)(nil).Wait("a"); w != 0 {
		t.Errorf("nil limiter: wait %v", w)
	}
}
