package auth

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func hashOf(t *testing.T, pass string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// reloadingHTPasswd opens an htpasswd file holding content that is re-read
// at every check, even while it is being written; it returns its path too.
func reloadingHTPasswd(t *testing.T, content string) (*HTPasswd, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := OpenHTPasswd(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.CheckEvery, h.Settle = 0, 0
	return h, path
}

func TestParseHTPasswd(t *testing.T) {
	alice := hashOf(t, "alicepw")
	// htpasswd -B writes $2y$: same algorithm.
	bobY := "$2y$" + strings.TrimPrefix(hashOf(t, "bobpw"), "$2a$")
	for _, tc := range []struct {
		name, file string
		users      []string
		err        string
	}{
		{"bcrypt", "# comment\nalice:" + alice + "\n\nbob:" + bobY + "\n", []string{"alice", "bob"}, ""},
		{"apr1", "alice:" + alice + "\nbob:$apr1$x$y\n", nil, `:2: user "bob": the hash is Apache MD5 ($apr1$); only bcrypt is accepted`},
		{"sha", "carol:{SHA}abc=\n", nil, "SHA-1 ({SHA})"},
		{"crypt", "carol:abJnggxhB/yWI\n", nil, "plain text or crypt(3)"},
		{"sha-crypt", "carol:$6$salt$x\n", nil, "SHA-crypt"},
		{"malformed bcrypt", "carol:$2a$10$short\n", nil, "malformed bcrypt hash"},
		{"no colon", "alice\n", nil, ":1: not a user:hash line"},
		{"twice", "alice:" + alice + "\nalice:" + alice + "\n", nil, `:2: user "alice" appears twice`},
		{"empty", "# nobody\n", nil, "f: no users"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			users, err := parseHTPasswd("f", []byte(tc.file))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(users) != len(tc.users) {
				t.Fatalf("users %v", users)
			}
			for _, u := range tc.users {
				if users[u] == nil {
					t.Errorf("no %s", u)
				}
			}
		})
	}
}

func TestHTPasswdVerifyAndReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "htpasswd")
	write := func(lines ...string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	y := "$2y$" + strings.TrimPrefix(hashOf(t, "bobpw"), "$2a$")
	write("alice:"+hashOf(t, "alicepw"), "bob:"+y)
	h, err := OpenHTPasswd(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.CheckEvery, h.Settle = 0, 0
	check := func(user, pass string, want bool) {
		t.Helper()
		for range 2 { // the second goes through the cache when it succeeded
			if got := h.Verify(user, pass); got != want {
				t.Fatalf("Verify(%s, %s) = %v, want %v", user, pass, got, want)
			}
		}
	}
	check("alice", "alicepw", true)
	check("bob", "bobpw", true)
	check("alice", "bobpw", false)
	check("alice", "", false)
	check("nobody", "alicepw", false)
	check("Alice", "alicepw", false)

	// A change is picked up: alice's password changes, carol arrives, and
	// the cached success of alice's old password does not survive it.
	time.Sleep(10 * time.Millisecond) // a distinct modification time
	write("alice:"+hashOf(t, "newpw"), "carol:"+hashOf(t, "carolpw"))
	check("alice", "alicepw", false)
	check("alice", "newpw", true)
	check("carol", "carolpw", true)
	check("bob", "bobpw", false)

	// A file that no longer loads keeps the previous users.
	time.Sleep(10 * time.Millisecond)
	write("alice:$apr1$x$y")
	check("alice", "newpw", true)

	// A file modified just now may be half written: read at a later check.
	time.Sleep(10 * time.Millisecond)
	write("zed:" + hashOf(t, "zedpw"))
	h.Settle = time.Hour
	check("zed", "zedpw", false)
	check("alice", "newpw", true)
	h.Settle = 0
	check("zed", "zedpw", true)

	write("alice:$apr1$x$y")
	if _, err := OpenHTPasswd(path, nil); err == nil || !strings.Contains(err.Error(), "only bcrypt") {
		t.Fatalf("open of a non-bcrypt file: %v", err)
	}
	if _, err := OpenHTPasswd(filepath.Join(t.TempDir(), "missing"), nil); err == nil {
		t.Fatal("open of a missing file succeeded")
	}
}

// TestHTPasswdTiming checks that an unknown user costs a bcrypt comparison
// like a known one (so timing does not reveal which users exist): one
// comparison, against a hash of the users' cost.
func TestHTPasswdTiming(t *testing.T) {
	path := filepath.Join(t.TempDir(), "htpasswd")
	const cost = bcrypt.MinCost + 1
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), cost)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, []byte("alice:"+string(hash)+"\n"), 0o600)
	h, err := OpenHTPasswd(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var costs []int // of the hashes compared
	h.compare = func(hash, pass []byte) error {
		c, err := bcrypt.Cost(hash)
		if err != nil {
			t.Errorf("compared against a malformed hash %q", hash)
		}
		costs = append(costs, c)
		return bcrypt.CompareHashAndPassword(hash, pass)
	}
	for _, c := range []struct {
		user, pass string
		ok         bool
		compares   int
	}{
		{"alice", "wrong", false, 1},
		{"mallory", "wrong", false, 1}, // unknown: as costly as a known user
		{"mallory", "pw", false, 1},
		{"", "", false, 1},
		{"alice", "pw", true, 1},
		{"alice", "pw", true, 0}, // verified recently: cached
		{"mallory", "pw", false, 1},
	} {
		costs = nil
		if ok := h.Verify(c.user, c.pass); ok != c.ok {
			t.Errorf("Verify(%q, %q) = %v", c.user, c.pass, ok)
		}
		if len(costs) != c.compares {
			t.Errorf("Verify(%q, %q): %d bcrypt comparisons, want %d", c.user, c.pass, len(costs), c.compares)
		}
		for _, got := range costs {
			if got != cost {
				t.Errorf("Verify(%q, %q) compared a hash of cost %d, want the users' %d", c.user, c.pass, got, cost)
			}
		}
	}
}

// TestHTPasswdConcurrent verifies from several goroutines while the file
// changes (run with -race).
func TestHTPasswdConcurrent(t *testing.T) {
	alice := "alice:" + hashOf(t, "alicepw") + "\n"
	h, path := reloadingHTPasswd(t, alice)
	done := make(chan struct{})
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				if !h.Verify("alice", "alicepw") {
					errs <- fmt.Errorf("goroutine %d, try %d: alice refused", g, i)
					return
				}
				h.Verify("bob", "x")
			}
		}()
	}
	for i := range 20 {
		os.WriteFile(path, []byte(alice+fmt.Sprintf("u%d:", i)+hashOf(t, "x")+"\n"), 0o600)
		time.Sleep(2 * time.Millisecond)
	}
	close(done)
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestHTPasswdReloadDummy: a reload computes a new dummy hash (a bcrypt
// run) only when the users' cost changes.
func TestHTPasswdReloadDummy(t *testing.T) {
	h, path := reloadingHTPasswd(t, "alice:"+hashOf(t, "alicepw")+"\n")
	dummy := h.dummy
	if c, _ := bcrypt.Cost(dummy); c != bcrypt.MinCost {
		t.Fatalf("dummy of cost %d, want the users' %d", c, bcrypt.MinCost)
	}
	// Same cost, one more user (a longer file: a new stamp).
	os.WriteFile(path, []byte("alice:"+hashOf(t, "alicepw")+"\nbob:"+hashOf(t, "bobpw")+"\n"), 0o600)
	if !h.Verify("bob", "bobpw") {
		t.Fatal("bob not loaded")
	}
	if &h.dummy[0] != &dummy[0] {
		t.Error("the dummy hash was computed again for a reload at the same cost")
	}
	// Another cost: a dummy of that cost.
	h5, err := bcrypt.GenerateFromPassword([]byte("carolpw"), bcrypt.MinCost+1)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, []byte("carol:"+string(h5)+"\n"), 0o600)
	if !h.Verify("carol", "carolpw") {
		t.Fatal("carol not loaded")
	}
	if c, _ := bcrypt.Cost(h.dummy); c != bcrypt.MinCost+1 {
		t.Errorf("dummy of cost %d after the users' cost changed to %d", c, bcrypt.MinCost+1)
	}
}

// TestHTPasswdVerifyDuringReload: while one caller checks the file, others
// are answered with the users they have, without waiting.
func TestHTPasswdVerifyDuringReload(t *testing.T) {
	h, path := reloadingHTPasswd(t, "alice:"+hashOf(t, "alicepw")+"\n")
	os.WriteFile(path, []byte("bob:"+hashOf(t, "bobpw")+"\n"), 0o600)
	h.mu.Lock()
	h.reloading = true // another caller is reading the file
	h.mu.Unlock()
	if !h.Verify("alice", "alicepw") || h.Verify("bob", "bobpw") {
		t.Fatal("a Verify during a reload did not answer with the previous users")
	}
	h.mu.Lock()
	h.reloading = false
	h.mu.Unlock()
	if h.Verify("alice", "alicepw") || !h.Verify("bob", "bobpw") {
		t.Fatal("the change was not picked up once the reload was over")
	}
}
