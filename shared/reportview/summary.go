// Package reportview shows run reports to people: the run pg2s3 sync
// prints when it ends (WriteRun), pg2s3 report's table of recent runs
// (WriteTable) and its self-contained HTML page with charts (WriteHTML).
// The three share their words for a run (a stream's result, the slot
// line, the totals), so each form says the same thing. It is kept out of
// package report, which the engine and the Lambda functions import, so
// that they carry none of this code.
package reportview

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/report"
)

// summary totals a list of runs.
type summary struct {
	Runs       int
	FailedRuns int
	// Kinds counts runs by kind (sync, wal, ...).
	Kinds map[string]int
	Rows  int64
	Bytes int64
	// Streams are the distinct streams the runs touched, sorted.
	Streams []string
	// First is the earliest start, Last the latest finish.
	First, Last time.Time
	// LastSlot is the slot line of the newest log drain, if any.
	LastSlot *report.Slot
}

// summarize totals runs (in any order).
func summarize(runs []*report.Run) summary {
	s := summary{Runs: len(runs), Kinds: map[string]int{}}
	seen := map[string]bool{}
	var lastSlotAt time.Time
	for _, r := range runs {
		s.Kinds[r.Kind]++
		if r.Unsuccessful() {
			s.FailedRuns++
		}
		s.Rows += r.Rows()
		s.Bytes += r.Bytes()
		for _, st := range r.Streams {
			if !seen[st.Stream] {
				seen[st.Stream] = true
				s.Streams = append(s.Streams, st.Stream)
			}
		}
		if s.First.IsZero() || r.StartedAt.Before(s.First) {
			s.First = r.StartedAt
		}
		if end := r.End(); end.After(s.Last) {
			s.Last = end
		}
		if r.Slot != nil && !r.StartedAt.Before(lastSlotAt) {
			s.LastSlot, lastSlotAt = r.Slot, r.StartedAt
		}
	}
	sort.Strings(s.Streams)
	return s
}

// kindCounts says how many runs of each kind, e.g. "3 sync, 2 wal".
func (s summary) kindCounts() string {
	kinds := make([]string, 0, len(s.Kinds))
	for k := range s.Kinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%d %s", s.Kinds[k], k)
	}
	return strings.Join(parts, ", ")
}

// groupDigits prints n with thousands separators (1,234,567).
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// shortDuration prints d in at most about six characters: 850ms, 12.3s,
// 4m05s, 2h07m, 3d04h.
func shortDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + shortDuration(-d)
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}

// streamResult says how a stream's part ended, in a few words.
func streamResult(s report.Stream) string {
	switch {
	case s.Error != "":
		return "ERROR"
	case s.Handoff != "":
		return "ok, handed off"
	case s.CopyDone && s.BookmarkBefore == nil && s.Method == layout.LogBased:
		return "ok" // a drain's report cannot tell when the copy finished
	case s.CopyDone && copyFinishedNow(s):
		return "ok, copy done"
	case !s.CopyDone && s.Method != layout.Incremental && s.Rows > 0:
		return "ok, copying"
	case s.NewVersion:
		return "ok, new version"
	default:
		return "ok"
	}
}

// copyFinishedNow says whether the stream's copy finished in this run
// rather than in an earlier one.
func copyFinishedNow(s report.Stream) bool {
	b := s.BookmarkBefore
	return b == nil || !b.CopyDone || b.Version != s.TableVersion || s.NewVersion
}

// slotLine describes a log drain's slot in one sentence.
func slotLine(sl *report.Slot) string {
	return strings.Join(slotParts(sl), ", ")
}

// slotParts are the phrases of the slot line: what a drain read, its LSN
// range, and how the slot stood after it (retained WAL, lag).
func slotParts(sl *report.Slot) []string {
	head := fmt.Sprintf("slot %s", sl.Name)
	if sl.Plugin != "" {
		head += " (" + sl.Plugin + ")"
	}
	head += fmt.Sprintf(": %s in %s", count(sl.Changes, "change"), count(sl.Transactions, "transaction"))
	lsns := fmt.Sprintf("%s -> %s", orDash(sl.StartLSN), orDash(sl.EndLSN))
	if sl.FenceLSN != "" {
		if sl.ReachedFence {
			lsns += " (fence reached)"
		} else {
			lsns += fmt.Sprintf(" (fence %s not reached)", sl.FenceLSN)
		}
	}
	return []string{head, lsns, fmt.Sprintf("retained WAL %s, lag %s", report.HumanBytes(sl.RetainedBytes), lagText(sl.LagSeconds))}
}

func lagText(sec float64) string {
	return shortDuration(time.Duration(sec * float64(time.Second)))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// count prints n things, with thousands separators.
func count(n int64, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return groupDigits(n) + " " + thing + "s"
}
