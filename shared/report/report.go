// Package report holds run reports (Stitch's extraction logs and loading
// reports) and progress output.
package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/layout"
)

// Run is the report of one invocation.
type Run struct {
	RunID      string    `json:"run_id"`
	Pipeline   string    `json:"pipeline"`
	Kind       string    `json:"kind"` // sync, wal, reset
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// StopReason says why the run ended: done, deadline, budget, error.
	StopReason string   `json:"stop_reason"`
	Streams    []Stream `json:"streams"`
	Slot       *Slot    `json:"slot,omitempty"`
	ReportKey  string   `json:"report_key,omitempty"`
}

// Stream is one stream's part of a run.
type Stream struct {
	Stream         string          `json:"stream"`
	Method         layout.Method   `json:"method"`
	Rows           int64           `json:"rows"`
	Bytes          int64           `json:"bytes"`
	Batches        int             `json:"batches"`
	DurationMS     int64           `json:"duration_ms"`
	TableVersion   int64           `json:"table_version"`
	NewVersion     bool            `json:"new_version,omitempty"`
	CopyDone       bool            `json:"copy_done,omitempty"`
	BookmarkBefore *bookmark.State `json:"bookmark_before,omitempty"`
	BookmarkAfter  *bookmark.State `json:"bookmark_after,omitempty"`
	Truncates      int             `json:"truncates,omitempty"`
	Error          string          `json:"error,omitempty"`
}

// Slot reports a log drain.
type Slot struct {
	Name          string  `json:"name"`
	Plugin        string  `json:"plugin"`
	StartLSN      string  `json:"start_lsn"`
	EndLSN        string  `json:"end_lsn"`
	FenceLSN      string  `json:"fence_lsn"`
	Changes       int64   `json:"changes"`
	Transactions  int64   `json:"transactions"`
	RetainedBytes int64   `json:"retained_wal_bytes"`
	LagSeconds    float64 `json:"lag_seconds"`
	ReachedFence  bool    `json:"reached_fence"`
}

// Failed reports whether any stream failed.
func (r *Run) Failed() bool {
	for _, s := range r.Streams {
		if s.Error != "" {
			return true
		}
	}
	return false
}

// Rows totals the rows of every stream.
func (r *Run) Rows() int64 {
	var n int64
	for _, s := range r.Streams {
		n += s.Rows
	}
	return n
}

// WriteText prints the report as a table for people.
func (r *Run) WriteText(w io.Writer) {
	fmt.Fprintf(w, "run %s (%s) %s, %s, stopped: %s\n", r.RunID, r.Kind, r.StartedAt.Format(time.RFC3339), r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond), r.StopReason)
	fmt.Fprintf(w, "  %-40s %-11s %10s %12s %7s  %s\n", "STREAM", "METHOD", "ROWS", "BYTES", "BATCHES", "STATE")
	for _, s := range r.Streams {
		state := fmt.Sprintf("version %d", s.TableVersion)
		if s.CopyDone {
			state += ", copy done"
		}
		if s.Error != "" {
			state = "ERROR: " + s.Error
		}
		fmt.Fprintf(w, "  %-40s %-11s %10d %12d %7d  %s\n", s.Stream, s.Method, s.Rows, s.Bytes, s.Batches, state)
	}
	if sl := r.Slot; sl != nil {
		fmt.Fprintf(w, "  %s\n", strings.Join(slotParts(sl), ", "))
	}
	if r.ReportKey != "" {
		fmt.Fprintf(w, "  report: %s\n", r.ReportKey)
	}
}

// HumanBytes prints a byte count for people (1.5 MiB).
func HumanBytes(n int64) string { return humanBytes(n) }

func humanBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", f), ".0") + " " + units[i]
}
