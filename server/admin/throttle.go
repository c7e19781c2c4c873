package admin

import (
	"sync"
	"time"
)

// Sign-in throttling. Failed sign-ins are counted per user name and per
// remote address, in memory: a restart forgets them, and several servers
// behind one load balancer count apart. Past the limit, each further
// failure doubles the wait, up to ThrottleMaxWait. A success clears the
// user's count (not the address's: one good account must not let an
// address guess at the others).
const (
	// ThrottleUserFailures is how many failures a user name may have
	// before it must wait.
	ThrottleUserFailures = 5
	// ThrottleAddrFailures is the same per remote address.
	ThrottleAddrFailures = 20
	// ThrottleFirstWait is the first wait; it doubles with each failure.
	ThrottleFirstWait = 30 * time.Second
	// ThrottleMaxWait bounds the wait.
	ThrottleMaxWait = 15 * time.Minute
	// ThrottleForget is how long after its last failure a count is
	// forgotten.
	ThrottleForget = time.Hour
	// throttleMaxKeys bounds the memory: past it, forgotten counts are
	// dropped, and if none are, the oldest half.
	throttleMaxKeys = 100_000
)

// throttle counts failed sign-ins.
type throttle struct {
	mu   sync.Mutex
	keys map[string]*failures
}

// failures is the count of one key.
type failures struct {
	n     int
	last  time.Time
	until time.Time // no sign-in before
}

func (t *throttle) check(user, ip string, now time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range [...]struct{ key, what string }{{"u:" + user, "user " + user}, {"a:" + ip, "address " + ip}} {
		if f := t.keys[k.key]; f != nil && now.Before(f.until) {
			return &ThrottledError{What: k.what, RetryAfter: f.until.Sub(now)}
		}
	}
	return nil
}

func (t *throttle) fail(user, ip string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.keys == nil {
		t.keys = make(map[string]*failures)
	}
	if len(t.keys) >= throttleMaxKeys {
		t.prune(now)
	}
	t.count("u:"+user, ThrottleUserFailures, now)
	t.count("a:"+ip, ThrottleAddrFailures, now)
}

func (t *throttle) count(key string, limit int, now time.Time) {
	f := t.keys[key]
	if f == nil || now.Sub(f.last) > ThrottleForget {
		f = &failures{}
		t.keys[key] = f
	}
	f.n++
	f.last = now
	if over := f.n - limit; over >= 0 {
		wait := ThrottleMaxWait
		if over < 16 {
			wait = min(ThrottleFirstWait<<over, ThrottleMaxWait)
		}
		f.until = now.Add(wait)
	}
}

func (t *throttle) succeed(user string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.keys, "u:"+user)
}

// prune drops forgotten counts and, if that is not enough, the older half.
func (t *throttle) prune(now time.Time) {
	var lasts []time.Time
	for k, f := range t.keys {
		if now.Sub(f.last) > ThrottleForget && now.After(f.until) {
			delete(t.keys, k)
		} else {
			lasts = append(lasts, f.last)
		}
	}
	if len(t.keys) < throttleMaxKeys/2 {
		return
	}
	// Drop the counts older than the average age.
	var sum time.Duration
	for _, l := range lasts {
		sum += now.Sub(l) / time.Duration(len(lasts))
	}
	for k, f := range t.keys {
		if now.Sub(f.last) >= sum && now.After(f.until) {
			delete(t.keys, k)
		}
	}
}
