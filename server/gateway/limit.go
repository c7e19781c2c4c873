package gateway

import (
	"context"
	"time"
)

// bucket is a token bucket that may go into debt: a register's frame is
// read, then paid for, and the session waits out the debt before it reads
// the next one. Nothing is refused, the register is only read more slowly.
type bucket struct {
	rate   float64 // tokens per second; <= 0: no limit
	burst  float64 // most tokens held
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int, now time.Time) *bucket {
	b := float64(burst)
	if b < 1 {
		b = max(rate, 1)
	}
	return &bucket{rate: rate, burst: b, tokens: b, last: now}
}

// take pays n tokens at now.
func (b *bucket) take(n int, now time.Time) {
	if b.rate <= 0 {
		return
	}
	b.refill(now)
	b.tokens -= float64(n)
}

// wait returns how long until the bucket is out of debt, at now.
func (b *bucket) wait(now time.Time) time.Duration {
	if b.rate <= 0 {
		return 0
	}
	b.refill(now)
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

func (b *bucket) refill(now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
}

// limiter is one connection's rate limit on Entries frames and entries.
type limiter struct {
	frames, entries *bucket
	slowed          bool // in an episode of waiting; logged once
}

func (g *Gateway) newLimiter() *limiter {
	now := time.Now()
	return &limiter{
		frames:  newBucket(g.FramesPerSecond, g.FrameBurst, now),
		entries: newBucket(g.EntriesPerSecond, g.EntryBurst, now),
	}
}

// pace waits, before the next frame is read, until the register is back
// under its limits. It logs the first wait of each episode.
func (c *conn) pace(ctx context.Context, l *limiter) error {
	now := time.Now()
	d := max(l.frames.wait(now), l.entries.wait(now))
	if d <= 0 {
		l.slowed = false
		return nil
	}
	if !l.slowed {
		l.slowed = true
		c.log.Warn("terminal: rate limit: reading the register more slowly",
			"frames_per_second", c.g.FramesPerSecond, "entries_per_second", c.g.EntriesPerSecond, "wait", d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
