package replicate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/deadline"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/report"
)

// SlotSource is the database side of a log run: the server's readiness,
// the publication, the slot, positions in the WAL and the log itself.
// shared/postgres/logical's Source implements it.
type SlotSource interface {
	// LogReady fails, with the fix, when the server cannot serve the
	// run (too old, the plugin not allowed, a standby).
	LogReady(ctx context.Context) error
	// Publish makes the log carry the tables' changes (pgoutput keeps its
	// publication equal to them). When the user may not change what the
	// log carries, it returns the tables the log does carry and an error
	// saying what to run; carried is nil when that is unknown.
	Publish(ctx context.Context, tables [][2]string) (carried [][2]string, err error)
	// EnsureSlot creates the slot when it is missing and returns its
	// confirmed position.
	EnsureSlot(ctx context.Context) (confirmed uint64, created bool, err error)
	// CurrentWALLSN is the server's current WAL position.
	CurrentWALLSN(ctx context.Context) (uint64, error)
	// Heartbeat writes a logical message and returns its LSN: a commit at
	// or past it is the drain's fence, even on an idle server.
	Heartbeat(ctx context.Context) (uint64, error)
	// OpenLog streams the slot from start (a committed position, or 0 for
	// the slot's own), keeping only the tables' changes.
	OpenLog(ctx context.Context, start uint64, tables [][2]string) (record.Log, error)
	// RetainedBytes is how much WAL the slot holds back.
	RetainedBytes(ctx context.Context) (int64, error)
}

// DrainJob is one bounded log-based run of a slot: drain the log up to a
// fence, then spend what is left of the budget on initial copies.
type DrainJob struct {
	Pipeline string
	RunID    string
	Slot     string
	Plugin   string // for the report
	// Streams are the LOG_BASED streams to follow; Failed are streams that
	// failed before the run, reported with it.
	Streams []*record.Stream
	Failed  []report.Stream
	Source  SlotSource
	Budget  Budget
	// IdleTimeout ends a drain that receives nothing for this long.
	IdleTimeout time.Duration
	// Leaser, when set, gives the slot to one run at a time.
	Leaser Leaser
	// Parallel, with more than one worker, copies large keyed streams'
	// initial copies in ranges at the same time.
	Parallel Parallel
	// Tasker, when set, is handed the slot (with its lease) once
	// EscalateAfter consecutive runs ended inside the same transaction.
	Tasker Tasker
}

// Drain runs job and writes its report. The order is the handoff rule:
// a stream's start position is recorded (before its copy begins) before
// the log is read, changes after it come from the slot, and the slot is
// acknowledged only past what the sink holds. It returns an error, and no
// report, only when nothing could run: the slot's lease is held, or the
// publication cannot be trusted.
func (e *Engine) Drain(ctx context.Context, job DrainJob) (*report.Run, error) {
	run := &report.Run{RunID: job.RunID, Pipeline: job.Pipeline, Kind: "wal", StartedAt: e.now().UTC(), StopReason: "done"}
	if run.RunID == "" {
		run.RunID = NewRunID()
	}
	run.Streams = append(run.Streams, job.Failed...)
	streams := job.Streams
	if len(streams) > 0 {
		// A server that cannot decode for this config fails every log
		// stream before anything on the server, in the sink or in the
		// bookmarks changes.
		if err := job.Source.LogReady(ctx); err != nil {
			run.Streams = append(run.Streams, streamErrors(streams, err)...)
			e.finishDrain(ctx, job, run)
			return run, nil
		}
	}
	if err := e.holdForUnreadable(ctx, job.Failed); err != nil {
		run.Streams = append(run.Streams, streamErrors(streams, err)...)
		e.finishDrain(ctx, job, run)
		return run, nil
	}
	streams, failed, err := e.publish(ctx, job.Source, streams)
	if err != nil {
		return nil, err
	}
	run.Streams = append(run.Streams, failed...)
	if len(streams) == 0 {
		e.finishDrain(ctx, job, run)
		return run, nil
	}
	var lease *heldLease
	if job.Leaser != nil {
		h, err := holdLease(ctx, job.Leaser, "slot#"+job.Slot, run.RunID, leaseTTL(job.Budget.Deadline, e.now()))
		if err != nil {
			return nil, fmt.Errorf("slot %s: %w", job.Slot, err)
		}
		lease = h
		defer h.release()
	}
	slotRep := &report.Slot{Name: job.Slot, Plugin: job.Plugin}
	run.Slot = slotRep
	byID, err := e.drainSlot(ctx, job, streams, slotRep)
	if err != nil {
		run.Streams = append(run.Streams, streamErrors(streams, err)...)
		e.finishDrain(ctx, job, run)
		return run, nil
	}
	var cutCopies []string // keyless initial copies the deadline cut off
	for _, s := range streams {
		rep := byID[s.ID]
		if !rep.CopyDone && !job.Budget.Expired(e.now()) && ctx.Err() == nil {
			if err := e.restartKeylessCopy(ctx, job.Source, s); err != nil {
				rep.Error = err.Error()
			} else {
				c := e.copy(ctx, s, job.Budget, job.Parallel)
				rep.add(c)
				if needsTaskCopy(s, c, job.Budget, e.now()) {
					cutCopies = append(cutCopies, s.ID)
				}
			}
		}
		rep.NewColumns = s.NewColumns // as resolved, and as the drain followed the table
		run.Streams = append(run.Streams, rep.Stream)
	}
	if job.Budget.Expired(e.now()) {
		run.StopReason = "deadline"
	}
	if err := e.escalateSlot(ctx, job, lease, run, cutCopies); err != nil {
		run.Streams = append(run.Streams, streamErrors(streams, err)...)
	}
	if e.Progress != nil {
		e.Progress.Done()
	}
	e.finishDrain(ctx, job, run)
	return run, nil
}

// holdForUnreadable returns an error when a stream that follows the log
// failed before the run (a selected column dropped or renamed, SELECT
// revoked, the table renamed or dropped): draining would acknowledge past
// its changes, which nothing would ever copy again. So the slot holds for
// every stream, loudly, until that one is fixed, deselected or reset.
func (e *Engine) holdForUnreadable(ctx context.Context, failed []report.Stream) error {
	for _, f := range failed {
		if f.Method != layout.LogBased {
			continue
		}
		bm, err := e.Bookmarks.Get(ctx, f.Stream)
		if err != nil {
			return err
		}
		if bm.State.Method != layout.LogBased || bm.State.Phase() == bookmark.PhaseInitial {
			continue // not following the log yet: nothing of it to lose
		}
		return fmt.Errorf("the slot holds: stream %s follows the log but cannot be read now (%s), and draining on would acknowledge past its changes; "+
			"fix it (pg2s3 discover, grants), deselect it in the catalog, or reset it (pg2s3 reset --stream %s); meanwhile no log-based stream advances and the slot retains WAL",
			f.Stream, f.Error, f.Stream)
	}
	return nil
}

// logStreamReport is a stream's part of a log run: its drain, then maybe
// its initial copy.
type logStreamReport struct{ report.Stream }

// add folds a copy's report into the stream's.
func (r *logStreamReport) add(c report.Stream) {
	r.Rows += c.Rows
	r.Bytes += c.Bytes
	r.Batches += c.Batches
	r.DurationMS += c.DurationMS
	r.CopyDone, r.BookmarkAfter = c.CopyDone, c.BookmarkAfter
	if r.BookmarkBefore == nil {
		r.BookmarkBefore = c.BookmarkBefore
	}
	if c.Error != "" {
		r.Error = c.Error
	}
}

// publish makes the log carry the streams' tables. When the user may not
// change what it carries, the run goes on with the streams it does carry;
// a stream it does not carry fails with the statement that adds it, as
// long as that stream has not started following the log: the slot is
// about to pass its changes, so then nothing drains.
func (e *Engine) publish(ctx context.Context, src SlotSource, streams []*record.Stream) ([]*record.Stream, []report.Stream, error) {
	if len(streams) == 0 {
		return nil, nil, nil
	}
	carried, err := src.Publish(ctx, record.Tables(streams))
	if err == nil {
		return streams, nil, nil
	}
	if len(carried) == 0 {
		return nil, nil, err
	}
	in := map[[2]string]bool{}
	for _, t := range carried {
		in[t] = true
	}
	var ok []*record.Stream
	var failed []report.Stream
	for _, s := range streams {
		if in[[2]string{s.Schema, s.Table}] {
			ok = append(ok, s)
			continue
		}
		bm, gerr := e.Bookmarks.Get(ctx, s.ID)
		if gerr != nil {
			return nil, nil, gerr
		}
		if bm.State.Method == layout.LogBased && bm.State.Phase() != bookmark.PhaseInitial {
			return nil, nil, fmt.Errorf("stream %s follows the log but its table is no longer published; draining now would skip its changes: %w", s.ID, err)
		}
		failed = append(failed, report.Stream{Stream: s.ID, Method: s.Method, Error: fmt.Sprintf("not published yet: %v", err)})
	}
	return ok, failed, nil
}

// drainSlot prepares the slot and the streams' start positions and drains
// the log up to a fence written now.
func (e *Engine) drainSlot(ctx context.Context, job DrainJob, streams []*record.Stream, slotRep *report.Slot) (map[string]*logStreamReport, error) {
	src := job.Source
	confirmed, created, err := src.EnsureSlot(ctx)
	if err != nil {
		return nil, err
	}
	if created {
		e.log().Info("created replication slot", "slot", job.Slot, "plugin", job.Plugin, "lsn", formatLSN(confirmed))
	}
	slotBM, err := e.Bookmarks.Get(ctx, layout.SlotBookmarkID(job.Slot))
	if err != nil {
		return nil, err
	}
	if c := slotBM.State.CommittedLSN; c != 0 && c < confirmed {
		return nil, fmt.Errorf("slot %s has moved past the last committed position (%s < %s): the WAL between is gone, and reading on would skip changes; run pg2s3 reset --slot --confirm to re-copy the log-based streams",
			job.Slot, formatLSN(c), formatLSN(confirmed))
	}
	byID := map[string]*logStreamReport{}
	for _, s := range streams {
		st, err := e.startPosition(ctx, src, s)
		if err != nil {
			return nil, err
		}
		byID[s.ID] = &logStreamReport{report.Stream{Stream: s.ID, Method: s.Method, TableVersion: st.Version, CopyDone: st.CopyDone}}
	}
	fence, err := src.Heartbeat(ctx)
	if err != nil {
		return nil, err
	}
	slotRep.FenceLSN = formatLSN(fence)
	log, err := src.OpenLog(ctx, slotBM.State.CommittedLSN, record.Tables(streams))
	if err != nil {
		return nil, err
	}
	defer log.Close(context.WithoutCancel(ctx))
	reps, err := e.ReadSlot(ctx, SlotRead{Slot: job.Slot, Streams: streams, Log: log, Fence: fence, Budget: job.Budget, IdleTimeout: job.IdleTimeout}, slotRep)
	for _, r := range reps {
		b := byID[r.Stream]
		b.Rows, b.Bytes, b.Batches, b.Truncates = r.Rows, r.Bytes, r.Batches, r.Truncates
	}
	return byID, err
}

// startPosition returns s's bookmark, first recording the current WAL
// position as its start when it has none: changes after it come from the
// slot, rows before it from the copy that follows.
func (e *Engine) startPosition(ctx context.Context, src SlotSource, s *record.Stream) (bookmark.State, error) {
	cur, err := e.Bookmarks.Get(ctx, s.ID)
	if err != nil {
		return bookmark.State{}, err
	}
	st := cur.State
	if st.Method == layout.LogBased && st.Phase() != bookmark.PhaseInitial {
		return st, nil // it has its start position
	}
	lsn, err := src.CurrentWALLSN(ctx)
	if err != nil {
		return bookmark.State{}, err
	}
	if cur.Rev == 0 || st.Method != layout.LogBased {
		st = bookmark.State{Method: layout.LogBased, Version: bookmark.NewVersion(st.Version, e.now()), KeyColumns: s.KeyColumns}
	}
	st.StartLSN, st.UpdatedAt = lsn, e.now()
	if _, err := e.Bookmarks.Put(ctx, s.ID, st, cur.Rev); err != nil {
		if errors.Is(err, bookmark.ErrConflict) {
			return bookmark.State{}, fmt.Errorf("record start position of %s: %w: another run moved it", s.ID, err)
		}
		return bookmark.State{}, fmt.Errorf("record start position of %s: %w", s.ID, err)
	}
	return st, nil
}

// restartKeylessCopy starts a new version, at a new start position, for a
// stream without a key whose copy an earlier run left unfinished: such a
// copy cannot resume (no key to continue after), and reading it again into
// the same version would write its rows twice. Changes before the new
// start position are in the new copy; the drain skips them.
func (e *Engine) restartKeylessCopy(ctx context.Context, src SlotSource, s *record.Stream) error {
	if len(s.KeyColumns) > 0 {
		return nil
	}
	cur, err := e.Bookmarks.Get(ctx, s.ID)
	if err != nil {
		return err
	}
	if cur.State.Phase() != bookmark.PhaseCopying || cur.State.Seq == 0 {
		return nil
	}
	lsn, err := src.CurrentWALLSN(ctx)
	if err != nil {
		return err
	}
	next := bookmark.Reset(cur.State, e.now())
	next.StartLSN, next.UpdatedAt = lsn, e.now()
	if _, err := e.Bookmarks.Put(ctx, s.ID, next, cur.Rev); err != nil {
		return fmt.Errorf("restart the copy of %s: %w", s.ID, err)
	}
	e.log().Info("restarting an unfinished copy without a key in a new version", "stream", s.ID, "version", next.Version, "start_lsn", formatLSN(lsn))
	return nil
}

// truncateVersion begins a new, empty version of s at a TRUNCATE (its
// transaction's commit LSN and its own LSN), committed like a finished
// copy of an empty table: an empty copy manifest that completes the
// version, its activation marker, then the stream's bookmark. A redo that
// meets the same TRUNCATE again finds the version already begun.
func (e *Engine) truncateVersion(ctx context.Context, s *record.Stream, commitLSN, lsn uint64) (bookmark.State, error) {
	cur, err := e.Bookmarks.Get(ctx, s.ID)
	if err != nil {
		return bookmark.State{}, err
	}
	if st := cur.State; st.StartLSN == commitLSN && st.StartAfter == lsn {
		return st, nil
	}
	now := e.now()
	next := bookmark.State{Method: layout.LogBased, Version: bookmark.NewVersion(cur.State.Version, now), Seq: 1,
		KeyColumns: s.KeyColumns, CopyDone: true, StartLSN: commitLSN, StartAfter: lsn, UpdatedAt: now}
	m := &Manifest{Format: layout.ManifestFormat, DataFormat: e.format(), Stream: s.Table, TapStreamID: s.ID, Schema: s.Schema, Table: s.Table,
		Method: layout.LogBased, TableVersion: next.Version, VersionStarted: true, VersionComplete: true,
		JSONSchema: s.JSONSchema, KeyProperties: nonNil(s.KeyColumns), Objects: []ManifestObject{},
		ExtractedAt: now.UTC().Format(tsLayout), BookmarkBefore: cur.State, BookmarkAfter: next}
	if _, err := e.commit(ctx, &commitStep{manifest: m, manifestKey: layout.CopyManifestKey(s.ID, next.Version, 0),
		bookmarkID: s.ID, next: next, rev: cur.Rev}); err != nil {
		return bookmark.State{}, fmt.Errorf("begin a new version of %s at its TRUNCATE: %w", s.ID, err)
	}
	e.log().Info("a TRUNCATE began a new, empty table version", "stream", s.ID, "version", next.Version, "lsn", formatLSN(lsn))
	return next, nil
}

// streamErrors reports err as the failure of each of streams.
func streamErrors(streams []*record.Stream, err error) []report.Stream {
	out := make([]report.Stream, 0, len(streams))
	for _, s := range streams {
		out = append(out, report.Stream{Stream: s.ID, Method: s.Method, Error: err.Error()})
	}
	return out
}

// finishDrain writes a log run's report, with the slot's retained WAL
// measured once, at the end, however the run ended: a failed drain's is
// what an alarm on the slot must see. A run that failed before reading the
// slot gets a slot report only when the server can say; one that had
// nothing to drain gets none.
func (e *Engine) finishDrain(ctx context.Context, job DrainJob, run *report.Run) {
	if job.Source != nil && (run.Slot != nil || run.Failed()) {
		mctx, cancel := deadline.Cleanup(ctx, cleanupGrace)
		if n, err := job.Source.RetainedBytes(mctx); err == nil {
			if run.Slot == nil {
				run.Slot = &report.Slot{Name: job.Slot, Plugin: job.Plugin}
			}
			run.Slot.RetainedBytes = n
		}
		cancel()
	}
	e.Finish(ctx, run)
}
