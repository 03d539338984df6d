package auth

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// HTPasswd is an htpasswd file of bcrypt entries, re-read when it changes
// (checked at most once per CheckEvery, on use).
type HTPasswd struct {
	path string
	log  *slog.Logger
	// CheckEvery bounds how often the file is stat'ed for changes.
	CheckEvery time.Duration
	// Settle: a file modified less than this ago is still being written;
	// it is read at a later check.
	Settle time.Duration

	// mu guards the users; it is held only to read or swap them, never
	// while the file is read or a hash computed.
	mu        sync.Mutex
	users     map[string][]byte // name -> bcrypt hash
	dummy     []byte            // compared against for unknown users
	cost      int               // dummy's bcrypt cost
	stamp     fileStamp
	checked   time.Time
	reloading bool // a caller is checking the file

	// cache remembers credentials verified recently, so that a push of many
	// requests pays bcrypt once: HMAC(key, user, password) -> the hash they
	// matched and until when. Emptied when the file changes.
	cacheMu sync.Mutex
	key     [32]byte
	cache   map[[32]byte]cached

	// compare is bcrypt.CompareHashAndPassword (tests count the calls).
	compare func(hash, pass []byte) error
}

type cached struct {
	hash  string
	until time.Time
}

const (
	cacheTTL = time.Minute
	cacheMax = 4096
)

type fileStamp struct {
	mod  time.Time
	size int64
}

// OpenHTPasswd reads the htpasswd file at path.
func OpenHTPasswd(path string, log *slog.Logger) (*HTPasswd, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &HTPasswd{path: path, log: log, CheckEvery: time.Second, Settle: 100 * time.Millisecond, cache: map[[32]byte]cached{}, compare: bcrypt.CompareHashAndPassword}
	rand.Read(h.key[:])
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("htpasswd: %w", err)
	}
	users, err := readHTPasswd(path)
	if err != nil {
		return nil, err
	}
	h.cost = costOf(users)
	h.dummy = dummyHash(h.cost)
	h.users, h.stamp, h.checked = users, stampOf(st), time.Now()
	return h, nil
}

func stampOf(st os.FileInfo) fileStamp { return fileStamp{st.ModTime(), st.Size()} }

// costOf is the bcrypt cost of users' hashes (of one of them: a file is
// usually written with one cost).
func costOf(users map[string][]byte) int {
	for _, hash := range users {
		if c, err := bcrypt.Cost(hash); err == nil {
			return c
		}
	}
	return bcrypt.DefaultCost
}

// dummyHash is a hash of cost for unknown users to be compared against.
func dummyHash(cost int) []byte {
	dummy, _ := bcrypt.GenerateFromPassword([]byte("no such user"), cost)
	return dummy
}

// reload re-reads the file if it changed since last read, at most once per
// CheckEvery. One caller at a time checks, and reads and parses the file
// without holding h.mu: the others go on with the previous users meanwhile.
// A file that does not parse, or holds no users (caught while being
// rewritten), keeps the previous users (and is logged).
func (h *HTPasswd) reload() {
	h.mu.Lock()
	if h.reloading || time.Since(h.checked) < h.CheckEvery {
		h.mu.Unlock()
		return
	}
	h.reloading, h.checked = true, time.Now()
	prev, cost := h.stamp, h.cost
	h.mu.Unlock()

	u := h.check(prev, cost)

	h.mu.Lock()
	defer h.mu.Unlock()
	h.reloading = false
	if u.again {
		h.checked = time.Time{} // look again at the next request
	}
	if u.stamp == nil {
		return
	}
	h.stamp = *u.stamp // a file that does not load is not re-read until it changes again
	if u.users == nil {
		return
	}
	h.users = u.users
	if u.dummy != nil {
		h.dummy, h.cost = u.dummy, u.cost
	}
	h.cacheMu.Lock()
	clear(h.cache)
	h.cacheMu.Unlock()
}

// update is what a check of the file found.
type update struct {
	again bool       // the file is being written: look again soon
	stamp *fileStamp // the file changed: its new stamp
	users map[string][]byte
	dummy []byte // the users' cost changed: a new dummy of that cost
	cost  int
}

// check reads the file if its stamp is no longer prev; cost is the current
// dummy's.
func (h *HTPasswd) check(prev fileStamp, cost int) update {
	st, err := os.Stat(h.path)
	if err != nil {
		h.log.Warn("htpasswd: keeping the previous users", "err", err)
		return update{}
	}
	stamp := stampOf(st)
	if stamp == prev {
		return update{}
	}
	if time.Since(st.ModTime()) < h.Settle {
		return update{again: true}
	}
	users, err := readHTPasswd(h.path)
	if err != nil {
		h.log.Warn("htpasswd changed but does not load: keeping the previous users", "err", err)
		return update{stamp: &stamp}
	}
	u := update{stamp: &stamp, users: users}
	if c := costOf(users); c != cost {
		u.dummy, u.cost = dummyHash(c), c
	}
	h.log.Info("htpasswd reloaded", "path", h.path, "users", len(users))
	return u
}

// Verify reports whether pass is user's password. Unknown users cost a
// bcrypt comparison too, so that timing does not tell them apart.
func (h *HTPasswd) Verify(user, pass string) bool {
	h.reload()
	h.mu.Lock()
	hash, known := h.users[user]
	if !known {
		hash = h.dummy
	}
	h.mu.Unlock()
	mac := hmac.New(sha256.New, h.key[:])
	mac.Write([]byte(user))
	mac.Write([]byte{0})
	mac.Write([]byte(pass))
	var k [32]byte
	mac.Sum(k[:0])
	now := time.Now()
	h.cacheMu.Lock()
	c, hit := h.cache[k]
	h.cacheMu.Unlock()
	if hit && known && c.hash == string(hash) && now.Before(c.until) {
		return true
	}
	ok := h.compare(hash, []byte(pass)) == nil && known
	if ok {
		h.cacheMu.Lock()
		if len(h.cache) >= cacheMax {
			clear(h.cache)
		}
		h.cache[k] = cached{hash: string(hash), until: now.Add(cacheTTL)}
		h.cacheMu.Unlock()
	}
	return ok
}

// readHTPasswd parses an htpasswd file: "user:hash" lines, # comments and
// blank lines ignored. Every hash must be bcrypt ($2a$, $2b$, $2y$).
func readHTPasswd(path string) (map[string][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("htpasswd: %w", err)
	}
	return parseHTPasswd(path, data)
}

func parseHTPasswd(path string, data []byte) (map[string][]byte, error) {
	users := map[string][]byte{}
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		switch {
		case !ok || user == "":
			errs = append(errs, fmt.Errorf("%s:%d: not a user:hash line", path, n))
		case users[user] != nil:
			errs = append(errs, fmt.Errorf("%s:%d: user %q appears twice", path, n, user))
		default:
			if err := checkBcrypt(hash); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: user %q: %w", path, n, user, err))
				continue
			}
			users[user] = []byte(hash)
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", path, err))
	}
	if len(users) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%s: no users", path))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("htpasswd: %w", errors.Join(errs...))
	}
	return users, nil
}

// checkBcrypt accepts bcrypt hashes and names what anything else is.
func checkBcrypt(hash string) error {
	if strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$") {
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return fmt.Errorf("malformed bcrypt hash: %v", err)
		}
		return nil
	}
	kind := "plain text or crypt(3)"
	switch {
	case strings.HasPrefix(hash, "$apr1$"):
		kind = "Apache MD5 ($apr1$)"
	case strings.HasPrefix(hash, "{SHA}"):
		kind = "SHA-1 ({SHA})"
	case strings.HasPrefix(hash, "$1$"):
		kind = "MD5-crypt ($1$)"
	case strings.HasPrefix(hash, "$5$"), strings.HasPrefix(hash, "$6$"):
		kind = "SHA-crypt ($5$/$6$)"
	}
	return fmt.Errorf("the hash is %s; only bcrypt is accepted (htpasswd -B)", kind)
}
