package auth

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter bounds failed logins per client address: a token bucket of max
// failures refilled at max per window. Idle addresses are forgotten.
type limiter struct {
	mu    sync.Mutex
	per   map[string]*rate.Limiter
	every rate.Limit
	burst int
	swept time.Time
	now   func() time.Time
}

func newLimiter(max int, window time.Duration) *limiter {
	return &limiter{per: map[string]*rate.Limiter{}, every: rate.Every(window / time.Duration(max)), burst: max, now: time.Now}
}

// blocked reports whether addr used up its failures, and how long until it
// may try again.
func (l *limiter) blocked(addr string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.per[addr]
	if lim == nil {
		return 0, false
	}
	tokens := lim.TokensAt(l.now())
	if tokens >= 1 {
		return 0, false
	}
	return time.Duration((1 - tokens) / float64(l.every) * float64(time.Second)), true
}

// fail counts a failed login of addr.
func (l *limiter) fail(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.swept) > time.Minute {
		l.swept = now
		for a, lim := range l.per {
			if lim.TokensAt(now) >= float64(l.burst) {
				delete(l.per, a)
			}
		}
	}
	lim := l.per[addr]
	if lim == nil {
		lim = rate.NewLimiter(l.every, l.burst)
		l.per[addr] = lim
	}
	lim.AllowN(now, 1)
}
