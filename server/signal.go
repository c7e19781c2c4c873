package server

import "sync"

// Signal wakes its subscribers when something changed, without saying what:
// each subscriber then asks the store for what is new since its own cursor.
// Wake-ups coalesce, so a slow subscriber never blocks the one who signals
// and never misses that something changed. The zero value is ready to use.
type Signal struct {
	mu   sync.Mutex
	subs map[*chan struct{}]struct{}
}

// Subscribe returns a channel that receives a value after each Notify (at
// most one pending), and a function that ends the subscription.
func (s *Signal) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	if s.subs == nil {
		s.subs = make(map[*chan struct{}]struct{})
	}
	s.subs[&ch] = struct{}{}
	s.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.subs, &ch)
			s.mu.Unlock()
		})
	}
}

// Notify wakes every subscriber. It never blocks.
func (s *Signal) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs {
		select {
		case *ch <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}
