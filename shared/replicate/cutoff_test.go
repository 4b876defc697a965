package replicate

import (
	"testing"

	"github.com/pg2s3/pg2s3/shared/bookmark"
)

// TestCutOffRuns: the drains in a row that the deadline cut off at one
// place in the log, as the slot bookmark counts them.
func TestCutOffRuns(t *testing.T) {
	start := func(committed, partial uint64, runs int) bookmark.State {
		return bookmark.State{CommittedLSN: committed, PartialCommitLSN: partial, PartialRuns: runs}
	}
	for _, c := range []struct {
		name   string
		start  bookmark.State
		next   bookmark.State
		cutOff bool
		want   int
	}{
		{"reached the fence", start(100, 200, 1), start(300, 0, 0), false, 0},
		{"moved on, cut off between transactions", start(100, 0, 0), start(150, 0, 0), true, 0},
		{"moved on, cut off inside one", start(100, 0, 0), start(150, 200, 0), true, 1},
		{"inside the same one again", start(150, 200, 1), start(150, 200, 1), true, 2},
		{"nothing arrived (the server still decoding)", start(150, 0, 1), start(150, 0, 1), true, 2},
		{"third time", start(150, 200, 2), start(150, 200, 2), true, 3},
		{"finished it, cut off inside the next", start(150, 200, 2), start(250, 300, 2), true, 1},
		{"a new slot's first drain", start(0, 0, 0), start(0, 0, 0), true, 0},
	} {
		dr := &drainer{start: c.start, cutOff: c.cutOff}
		if got := dr.cutOffRuns(c.next); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
