package report

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Progress prints per-stream progress of long copies: on a terminal one
// updating line, elsewhere a plain line every Interval.
type Progress struct {
	W        io.Writer
	TTY      bool
	Interval time.Duration

	mu    sync.Mutex
	last  time.Time
	start map[string]time.Time
}

// Update reports rows done of an estimate for a stream.
func (p *Progress) Update(stream string, done, estimate int64) {
	if p == nil || p.W == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if p.start == nil {
		p.start = map[string]time.Time{}
	}
	st, ok := p.start[stream]
	if !ok {
		// The first line comes one interval in: short copies print none.
		st = now
		p.start[stream] = now
		p.last = now
	}
	every := p.Interval
	if every == 0 {
		every = 10 * time.Second
	}
	if p.TTY {
		every = 200 * time.Millisecond
	}
	if now.Sub(p.last) < every {
		return
	}
	p.last = now
	rate := float64(done) / max(now.Sub(st).Seconds(), 1e-3)
	eta := "?"
	if estimate > done && rate > 0 {
		eta = time.Duration(float64(estimate-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	line := fmt.Sprintf("%s: %d of ~%d rows, %.0f rows/s, eta %s", stream, done, estimate, rate, eta)
	if p.TTY {
		fmt.Fprintf(p.W, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(p.W, line)
	}
}

// Done ends a terminal progress line.
func (p *Progress) Done() {
	if p != nil && p.TTY && !p.last.IsZero() {
		fmt.Fprintln(p.W)
	}
}
