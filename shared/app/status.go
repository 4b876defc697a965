package app

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/logical"
	"github.com/pg2s3/pg2s3/shared/report"
)

// Status is a pipeline's health on one screen: each stream's bookmark and
// last run, the replication slot, and what needs attention.
type Status struct {
	Pipeline  string         `json:"pipeline"`
	Where     string         `json:"where"`
	CheckedAt time.Time      `json:"checked_at"`
	Streams   []StreamStatus `json:"streams"`
	Slot      *SlotStatus    `json:"slot,omitempty"`
	// Tasks are the newest long-running tasks runs started.
	Tasks []TaskStatus `json:"tasks,omitempty"`
	// Attention lists what needs a person, each with what to do; empty
	// when all is well.
	Attention []string `json:"attention"`
}

// StreamStatus is one stream's state.
type StreamStatus struct {
	Stream   string        `json:"stream"`
	Method   layout.Method `json:"method"`
	Selected bool          `json:"selected"`
	// Version is the table version being written (0: never run).
	Version int64 `json:"table_version"`
	// Bookmark says where the next batch starts, for people.
	Bookmark string          `json:"bookmark"`
	State    *bookmark.State `json:"state,omitempty"`
	// The stream's newest run: when, its result ("ok" or the error) and
	// rows; LastOK is the newest run without an error.
	LastRun    time.Time `json:"last_run,omitzero"`
	LastResult string    `json:"last_result"`
	LastRows   int64     `json:"last_rows"`
	LastOK     time.Time `json:"last_ok,omitzero"`
}

// SlotStatus is the replication slot as the server and the last drain see
// it.
type SlotStatus struct {
	Name   string `json:"name"`
	Plugin string `json:"plugin"`
	Exists bool   `json:"exists"`
	Active bool   `json:"active"`
	// RetainedBytes is WAL the server keeps for the slot; BehindBytes the
	// WAL written since the slot's confirmed position.
	RetainedBytes int64  `json:"retained_wal_bytes"`
	BehindBytes   int64  `json:"behind_bytes"`
	WALStatus     string `json:"wal_status,omitempty"`
	CommittedLSN  string `json:"committed_lsn,omitempty"`
	// PartialRuns consecutive drains were cut off inside (or before) the
	// transaction PartialCommitLSN; at replicate.EscalateAfter the wal
	// function hands the slot to the task.
	PartialCommitLSN string `json:"partial_commit_lsn,omitempty"`
	PartialRuns      int    `json:"partial_runs,omitempty"`
	// The newest drain: when, and how far its last change lagged the
	// server's clock.
	LastDrain       time.Time `json:"last_drain,omitzero"`
	LastLagSeconds  float64   `json:"last_lag_seconds"`
	LastDrainFailed bool      `json:"last_drain_failed,omitempty"`
	// Error is why the server could not be asked (the rest is from the
	// stores).
	Error string `json:"error,omitempty"`
}

// statusRuns bounds the run reports status reads; it stops sooner, once
// every stream's last run is among those read.
const statusRuns = 500

// Status gathers the pipeline's health. cat may be nil: then the streams
// are those with a bookmark. The database is asked about the slot only
// when a log-based stream or a slot bookmark exists; if it cannot be
// reached, that is reported as needing attention, not as an error.
func (a *App) Status(ctx context.Context, cat *catalog.Catalog) (*Status, error) {
	st := &Status{Pipeline: a.Cfg.Pipeline, Where: a.Stores.Where, CheckedAt: time.Now().UTC(), Attention: []string{}}
	bms, err := a.Stores.Bookmarks.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read bookmarks: %w", err)
	}
	slotBM, hasSlotBM := bms[layout.SlotBookmarkID(a.Cfg.SlotName)]
	runs, err := report.Newest(ctx, a.Stores.Sink, statusRuns, lastRunsFound(bms))
	if err != nil {
		return nil, err
	}
	byID := map[string]*StreamStatus{}
	add := func(id string, method layout.Method, selected bool) *StreamStatus {
		if s := byID[id]; s != nil {
			return s
		}
		s := &StreamStatus{Stream: id, Method: method, Selected: selected, LastResult: "never run"}
		byID[id] = s
		return s
	}
	if cat != nil {
		sels, err := cat.Selections(a.Cfg.DefaultReplicationMethod)
		if err != nil {
			st.Attention = append(st.Attention, fmt.Sprintf("the catalog has invalid selections: %v (fix catalog.json; pg2s3 sync reports the same)", err))
		}
		for _, sel := range sels {
			add(sel.StreamID, sel.Method, true)
		}
	}
	logBased := false
	for id, v := range bms {
		if !layout.IsStreamID(id) {
			continue
		}
		s := add(id, v.State.Method, cat == nil)
		state := v.State
		s.State, s.Version, s.Bookmark = &state, state.Version, describeBookmark(state)
		if state.Ranges > 0 && !state.CopyDone {
			done := 0
			for r := 0; r < state.Ranges; r++ {
				if rg := bms[layout.RangeBookmarkID(id, r)].State; rg.Version == state.Version && rg.CopyDone {
					done++
				}
			}
			s.Bookmark = fmt.Sprintf("parallel copy: %d of %d ranges done", done, state.Ranges)
		}
		if s.Method == "" {
			s.Method = state.Method
		}
	}
	for _, run := range runs { // oldest first: the newest run wins
		for _, rs := range run.Streams {
			s := byID[rs.Stream]
			if s == nil {
				continue
			}
			s.LastRun, s.LastRows = run.StartedAt, rs.Rows
			s.LastResult = "ok"
			if rs.Skipped != "" {
				s.LastResult = "skipped: " + rs.Skipped
			}
			if rs.Handoff != "" {
				s.LastResult = "handed off to execution " + rs.Handoff
			}
			if rs.Error != "" {
				s.LastResult = "error: " + rs.Error
			} else {
				s.LastOK = run.StartedAt
			}
		}
	}
	for _, s := range byID {
		st.Streams = append(st.Streams, *s)
		logBased = logBased || s.Method == layout.LogBased && s.Selected
		if strings.HasPrefix(s.LastResult, "error: ") && s.Selected {
			st.Attention = append(st.Attention, fmt.Sprintf("stream %s failed in its last run (%s): %s", s.Stream, s.LastRun.Format(time.RFC3339), strings.TrimPrefix(s.LastResult, "error: ")))
		}
	}
	sort.Slice(st.Streams, func(i, j int) bool { return st.Streams[i].Stream < st.Streams[j].Stream })
	if logBased || hasSlotBM {
		st.Slot = a.slotStatus(ctx, runs)
		if hasSlotBM && slotBM.State.CommittedLSN != 0 {
			st.Slot.CommittedLSN = logical.FormatLSN(slotBM.State.CommittedLSN)
		}
		if hasSlotBM && slotBM.State.PartialRuns > 0 {
			st.Slot.PartialRuns = slotBM.State.PartialRuns
			if slotBM.State.PartialCommitLSN != 0 {
				st.Slot.PartialCommitLSN = logical.FormatLSN(slotBM.State.PartialCommitLSN)
			}
		}
		drained := hasSlotBM && slotBM.State.CommittedLSN != 0 // not after a slot reset
		st.Attention = append(st.Attention, a.slotAttention(st.Slot, logBased, drained)...)
	}
	st.Tasks = taskStatus(runs)
	for _, t := range st.Tasks {
		if strings.HasPrefix(t.State, "not started:") || strings.HasPrefix(t.State, "failed ") {
			st.Attention = append(st.Attention, fmt.Sprintf("the task for %s %s: run the work without a deadline (pg2s3 sync from a machine near the database) or fix the task and let the next scheduled run start it again", t.Work, t.State))
		}
	}
	sort.Strings(st.Attention)
	return st, nil
}

// lastRunsFound says when the run reports read (newest first) hold the
// last run of every stream with a bookmark, and a drain when log-based
// streams exist: status reads no further back.
func lastRunsFound(bms map[string]bookmark.Versioned) func([]*report.Run) bool {
	return func(runs []*report.Run) bool {
		seen := map[string]bool{}
		if !tasksStartersFound(runs) {
			return false
		}
		for _, r := range runs {
			if r.Kind == "wal" {
				seen["wal"] = true
			}
			for _, s := range r.Streams {
				seen[s.Stream] = true
			}
		}
		for id, v := range bms {
			switch {
			case !layout.IsStreamID(id):
			case !seen[id] || v.State.Method == layout.LogBased && !seen["wal"]:
				return false
			}
		}
		return true
	}
}

// slotStatus asks the server about the slot and takes the newest drain
// from the run reports.
func (a *App) slotStatus(ctx context.Context, runs []*report.Run) *SlotStatus {
	ss := &SlotStatus{Name: a.Cfg.SlotName, Plugin: a.Cfg.LogicalPlugin}
	for _, run := range runs {
		if run.Kind == "wal" && run.Slot != nil {
			ss.LastDrain, ss.LastLagSeconds, ss.LastDrainFailed = run.StartedAt, run.Slot.LagSeconds, run.Failed()
		}
	}
	conn, err := connect.Open(ctx, connect.FromConfig(a.Cfg))
	if err != nil {
		ss.Error = err.Error()
		return ss
	}
	defer conn.Close(context.WithoutCancel(ctx))
	slot := logical.New(conn, logical.FromConfig(a.Cfg))
	info, err := slot.Slot(ctx)
	if err != nil {
		ss.Error = err.Error()
		return ss
	}
	ss.Exists, ss.Active, ss.RetainedBytes, ss.WALStatus = info.Exists, info.Active, info.RetainedBytes, info.WALStatus
	if info.Exists && info.Plugin != "" {
		ss.Plugin = info.Plugin
	}
	if cur, err := slot.CurrentWALLSN(ctx); err == nil && info.Exists && cur > info.ConfirmedFlushLSN {
		ss.BehindBytes = int64(cur - info.ConfirmedFlushLSN)
	}
	return ss
}

// slotAttention says what about the slot needs a person. drained says a
// drain has committed a position before: a slot missing before the first
// drain (or after a slot reset) is not a problem, the drain creates it.
func (a *App) slotAttention(ss *SlotStatus, logBased, drained bool) []string {
	var out []string
	switch {
	case ss.Error != "":
		out = append(out, fmt.Sprintf("cannot read slot %s from the database: %s (check the connection with pg2s3 check)", ss.Name, ss.Error))
	case !ss.Exists && logBased && drained:
		out = append(out, fmt.Sprintf("slot %s was dropped: the next wal run creates it again and copies every log-based stream again (changes between the drop and now are only in those copies)", ss.Name))
	case ss.WALStatus == "lost":
		out = append(out, fmt.Sprintf("slot %s has lost WAL it needed (wal_status lost): reset it with pg2s3 reset --slot --confirm; its log-based streams copy again", ss.Name))
	}
	if limit := a.Cfg.MaxRetainedWALBytes; ss.RetainedBytes > limit {
		out = append(out, fmt.Sprintf("slot %s holds %s of WAL, more than max_retained_wal_mb (%s): run the wal drain more often or find why it fails (pg2s3 report); a slot nobody reads fills the server's disk", ss.Name, report.HumanBytes(ss.RetainedBytes), report.HumanBytes(limit)))
	}
	maxLag := a.Cfg.MaxLag
	if ss.LastLagSeconds > maxLag.Seconds() {
		out = append(out, fmt.Sprintf("slot %s: the last drain was %.0fs behind the server, more than max_lag_seconds (%.0f): drain more often or with a longer max_run_seconds", ss.Name, ss.LastLagSeconds, maxLag.Seconds()))
	}
	if logBased && ss.Exists && ss.BehindBytes > 0 && !ss.LastDrain.IsZero() && time.Since(ss.LastDrain) > maxLag {
		out = append(out, fmt.Sprintf("slot %s: the last wal drain ran %s ago, longer than max_lag_seconds (%.0f), and %s of WAL waits: check the wal schedule", ss.Name, time.Since(ss.LastDrain).Round(time.Second), maxLag.Seconds(), report.HumanBytes(ss.BehindBytes)))
	}
	return out
}

// describeBookmark says where a stream's next batch starts, for people.
func describeBookmark(st bookmark.State) string {
	switch st.Phase() {
	case bookmark.PhaseIncremental:
		if st.ReplicationKeyValue == nil {
			return "no rows yet"
		}
		return fmt.Sprintf("%s >= %s", st.ReplicationKey, *st.ReplicationKeyValue)
	case bookmark.PhaseLog:
		return fmt.Sprintf("copy done; log from %s", logical.FormatLSN(st.StartLSN))
	case bookmark.PhaseCopied:
		return "copy done"
	}
	switch {
	case st.Method == layout.Incremental:
		return "no rows yet"
	case len(st.LastKey) > 0:
		return fmt.Sprintf("copying: after key (%s), up to (%s)", strings.Join(st.LastKey, ", "), strings.Join(st.UpperKey, ", "))
	}
	return "copy not started"
}
