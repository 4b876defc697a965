// Package report records what runs do, as Stitch's extraction logs and
// loading reports did: the Run report the engine writes at a run's end,
// with its Stream and Slot parts, read back by Find and Newest, and the
// Progress lines a long copy prints while it runs. Showing reports to
// people is package reportview's job, so that the engine and the Lambda
// functions, which import this package, carry no page or chart code.
package report

import (
	"fmt"
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
	// Tasks are the long-running tasks this run started for work that
	// cannot finish inside a bounded run (see Task).
	Tasks []Task `json:"tasks,omitempty"`
	// OnTask says the run is the task itself: no deadline.
	OnTask    bool   `json:"on_task,omitempty"`
	ReportKey string `json:"report_key,omitempty"`
}

// Task is a long-running task a run started (ECS RunTask): the work it
// hands over (the slot's drain or one stream's copy), why, the task's id,
// or the error that kept it from starting.
type Task struct {
	Work   string `json:"work"` // "slot <name>" or "stream <tap_stream_id>"
	Reason string `json:"reason"`
	ID     string `json:"id,omitempty"`
	Error  string `json:"error,omitempty"`
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
	// NewColumns are the table's columns that the catalog did not list
	// (added after discovery): replicated unless the catalog's
	// select-new-columns is false for the table.
	NewColumns []string `json:"new_columns,omitempty"`
	// Range is the range of a parallel copy this report is about (one
	// piece of work of a worker); Skipped says why nothing was done (the
	// range's lease is held by another run).
	Range   *int   `json:"range,omitempty"`
	Skipped string `json:"skipped,omitempty"`
	// Handoff names the parallel copy execution (the stack's state
	// machine) that copies the stream in ranges: the run handed the copy
	// to it and copied nothing itself.
	Handoff string `json:"handoff,omitempty"`
	Error   string `json:"error,omitempty"`
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
	// PartialCommitLSN is the transaction the run ended inside (empty
	// when it ended between transactions); PartialRuns how many
	// consecutive runs ended inside it.
	PartialCommitLSN string `json:"partial_commit_lsn,omitempty"`
	PartialRuns      int    `json:"partial_runs,omitempty"`
}

// Failed reports whether any stream failed, or a task the run had to
// start could not be started.
func (r *Run) Failed() bool {
	for _, t := range r.Tasks {
		if t.Error != "" {
			return true
		}
	}
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

// Bytes totals the bytes of every stream.
func (r *Run) Bytes() int64 {
	var n int64
	for _, s := range r.Streams {
		n += s.Bytes
	}
	return n
}

// Unsuccessful reports whether a stream failed or the run stopped on an
// error.
func (r *Run) Unsuccessful() bool {
	return r.Failed() || r.StopReason == "error"
}

// End is when the run finished (its start if the report has no finish).
func (r *Run) End() time.Time {
	if r.FinishedAt.Before(r.StartedAt) {
		return r.StartedAt
	}
	return r.FinishedAt
}

// Duration is how long the run took.
func (r *Run) Duration() time.Duration { return r.End().Sub(r.StartedAt) }

// HumanBytes prints a byte count for people (1.5 MiB).
func HumanBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", f), ".0") + " " + units[i]
}
