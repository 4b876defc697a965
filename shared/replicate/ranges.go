package replicate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/report"
)

// A parallel copy splits the copy of a keyed stream's current version into
// ranges of its key space (PlanRanges), which workers copy at the same time
// (CopyRange; CopyParallel runs N of them): each range is a bookmark item
// of its own (layout.RangeBookmarkID) holding a keyset position, resumed
// batch by batch exactly like a copy, under a lease of its own. The
// version is activated (its completing manifest, the marker, then the
// stream's bookmark) by whichever worker completes the last range; the
// stream's bookmark is a conditional write, so exactly one does. A
// LOG_BASED stream is split only once a drain has recorded its start
// position, so the handoff to the log is the same as for a single copy.

// RangePlan is a stream's parallel copy as planned.
type RangePlan struct {
	Stream  string `json:"stream"`
	Version int64  `json:"table_version"`
	Ranges  int    `json:"ranges"`
	// How says how the split keys were found (statistics, or a sample);
	// empty when the plan already existed.
	How string `json:"how,omitempty"`
	// Done says the version's copy is already complete.
	Done bool `json:"done,omitempty"`
}

// rangeLease is the lease a worker holds on range r of stream.
func rangeLease(stream string, r int) string {
	return fmt.Sprintf("range#%s/%d", stream, r)
}

// PlanRanges splits the copy of s's current version into ranges of about
// rowsPerRange rows (at most layout.MaxRanges), from
// the server's statistics or a sample of keys (TableSource.SplitKeys). A
// FULL_TABLE stream whose last copy finished begins a new version; a copy
// under way is split from where it is. A stream already split keeps its
// plan (a second planner changes nothing). The range items are written
// before the stream's bookmark says the copy is split.
func (e *Engine) PlanRanges(ctx context.Context, s *record.Stream, rowsPerRange int64) (RangePlan, error) {
	plan := RangePlan{Stream: s.ID}
	switch {
	case len(s.KeyColumns) == 0:
		return plan, fmt.Errorf("stream %s has no primary key (a view or a table without one): its copy cannot be split into key ranges; it is read in one pass, on the copy task when one invocation cannot finish it", s.ID)
	case s.Method == layout.Incremental:
		return plan, fmt.Errorf("stream %s is INCREMENTAL: it is read in replication-key order, not split into key ranges", s.ID)
	}
	cur, err := e.Bookmarks.Get(ctx, s.ID)
	if err != nil {
		return plan, err
	}
	st := cur.State
	if s.Method == layout.FullTable {
		st, _ = bookmark.Begin(cur.State, cur.Rev > 0, s.Method, "", s.KeyColumns, e.now())
	} else if st.Method != layout.LogBased || st.Phase() == bookmark.PhaseInitial {
		return plan, fmt.Errorf("stream %s has no start position in the slot yet: run a log-based sync first (it records one); then its copy can be split", s.ID)
	}
	plan.Version = st.Version
	switch {
	case st.CopyDone:
		plan.Done = true
		return plan, nil
	case st.Ranges > 0:
		plan.Ranges = st.Ranges
		return plan, nil
	case len(st.LastKey) > 0 && !slices.Equal(st.KeyColumns, s.KeyColumns):
		return plan, fmt.Errorf("stream %s: the primary key changed from (%v) to (%v) since the copy began: reset the stream to copy it again", s.ID, st.KeyColumns, s.KeyColumns)
	}
	upper := st.UpperKey
	if len(upper) == 0 {
		if upper, err = e.Tables.MaxKey(ctx, s); err != nil {
			return plan, err
		}
	}
	var keys [][]string
	if len(upper) > 0 {
		if keys, plan.How, err = e.Tables.SplitKeys(ctx, s, rowsPerRange, st.LastKey, upper); err != nil {
			return plan, fmt.Errorf("plan ranges of %s: %w", s.ID, err)
		}
	}
	if plan.How == "" {
		plan.How = "one range"
	}
	bounds := append(append([][]string{st.LastKey}, keys...), upper)
	plan.Ranges = len(bounds) - 1
	for r := 0; r < plan.Ranges; r++ {
		rs := bookmark.State{Method: s.Method, Version: st.Version, KeyColumns: s.KeyColumns, LastKey: bounds[r], UpperKey: bounds[r+1],
			Seq: layout.RangeFirstSeq(r), StartLSN: st.StartLSN, UpdatedAt: e.now()}
		id := layout.RangeBookmarkID(s.ID, r)
		old, err := e.Bookmarks.Get(ctx, id)
		if err != nil {
			return plan, err
		}
		if _, err := e.Bookmarks.Put(ctx, id, rs, old.Rev); err != nil {
			return plan, fmt.Errorf("plan range %d of %s: %w", r, s.ID, err)
		}
	}
	st.Ranges, st.UpperKey, st.UpdatedAt = plan.Ranges, upper, e.now()
	st.KeyColumns = s.KeyColumns
	if _, err := e.Bookmarks.Put(ctx, s.ID, st, cur.Rev); err != nil {
		if errors.Is(err, bookmark.ErrConflict) {
			return plan, fmt.Errorf("plan ranges of %s: %w: another run moved it; plan again", s.ID, err)
		}
		return plan, err
	}
	e.log().Info("parallel copy planned", "stream", s.ID, "version", st.Version, "ranges", plan.Ranges, "how", plan.How)
	return plan, nil
}

// CopyRange copies range r of s's planned parallel copy within budget,
// under the range's lease when the engine has a Leaser: bounded batches
// from the range's bookmark, exactly as a copy. When the range is complete
// it activates the version if every other range is too. It returns the
// range's report and whether the range has more to copy; a range whose
// lease another run holds reports that and no more work here.
func (e *Engine) CopyRange(ctx context.Context, s *record.Stream, r int, budget Budget) (rep report.Stream, more bool) {
	start := e.now()
	rep = report.Stream{Stream: s.ID, Method: s.Method, Range: &r}
	defer func() { rep.DurationMS = e.now().Sub(start).Milliseconds() }()
	cur, err := e.Bookmarks.Get(ctx, s.ID)
	if err != nil {
		rep.Error = err.Error()
		return rep, false
	}
	rep.TableVersion = cur.State.Version
	switch {
	case cur.State.CopyDone:
		rep.CopyDone = true
		return rep, false
	case cur.State.Ranges == 0 || cur.State.Method != s.Method:
		rep.Error = fmt.Sprintf("stream %s has no parallel copy planned: plan it first", s.ID)
		return rep, false
	case r < 0 || r >= cur.State.Ranges:
		rep.Error = fmt.Sprintf("stream %s has ranges 0 to %d, not %d", s.ID, cur.State.Ranges-1, r)
		return rep, false
	}
	if e.Leaser != nil {
		release, err := HoldLease(ctx, e.Leaser, rangeLease(s.ID, r), e.Owner, leaseTTL(budget.Deadline, e.now()))
		if err != nil {
			if errors.Is(err, bookmark.ErrLeaseHeld) {
				rep.Skipped = "another run is copying this range"
				return rep, false
			}
			rep.Error = err.Error()
			return rep, false
		}
		defer release()
	}
	id := layout.RangeBookmarkID(s.ID, r)
	rg, err := e.Bookmarks.Get(ctx, id)
	if err != nil {
		rep.Error = err.Error()
		return rep, false
	}
	if rg.State.Version != cur.State.Version {
		rep.Error = fmt.Sprintf("range %d of %s belongs to table version %d, the copy under way is version %d: plan the copy again", r, s.ID, rg.State.Version, cur.State.Version)
		return rep, false
	}
	if !rg.State.CopyDone {
		c, err := e.newCopier(s, budget, rg.State, rg.Rev, &rep)
		if err != nil {
			rep.Error = err.Error()
			return rep, false
		}
		c.bookmarkID, c.ranged, c.firstSeq, c.started = id, true, layout.RangeFirstSeq(r), r == 0
		if s.Method == layout.LogBased {
			c.lsn = cur.State.StartLSN
		}
		if err := c.run(ctx); err != nil {
			rep.Error = err.Error()
			e.log().Error("range failed", "stream", s.ID, "range", r, "err", err)
			return rep, false
		}
		if !c.st.CopyDone {
			return rep, true
		}
	}
	done, err := e.ActivateRanges(ctx, s)
	if err != nil {
		rep.Error = err.Error()
	}
	rep.CopyDone = done
	return rep, false
}

// ActivateRanges completes the version of s's parallel copy when every
// range is done: a completing copy manifest without objects, the marker,
// then the stream's bookmark, written on the revision it was read at, so
// of workers finishing together exactly one activates; the others find it
// done. It reports whether the copy is complete.
func (e *Engine) ActivateRanges(ctx context.Context, s *record.Stream) (bool, error) {
	for attempt := 0; ; attempt++ {
		// One read of every bookmark (consistent, as Get) rather than one
		// per range: each range's completion asks, so per-range reads
		// would grow with the square of the ranges.
		all, err := e.Bookmarks.All(ctx)
		if err != nil {
			return false, err
		}
		cur := all[s.ID]
		st := cur.State
		switch {
		case st.CopyDone:
			return true, nil
		case st.Ranges == 0 || st.Method != s.Method:
			return false, fmt.Errorf("stream %s has no parallel copy planned: plan it first", s.ID)
		}
		for r := 0; r < st.Ranges; r++ {
			if rg := all[layout.RangeBookmarkID(s.ID, r)].State; rg.Version != st.Version || !rg.CopyDone {
				return false, nil
			}
		}
		seq := layout.RangeFirstSeq(st.Ranges)
		next := st
		next.CopyDone, next.LastKey, next.UpperKey, next.Seq, next.UpdatedAt = true, nil, nil, seq+1, e.now()
		m := &Manifest{
			Format: layout.ManifestFormat, DataFormat: e.format(), Stream: s.Table, TapStreamID: s.ID, Schema: s.Schema, Table: s.Table,
			Method: s.Method, TableVersion: st.Version, Sequence: seq, VersionComplete: true, Objects: []ManifestObject{},
			JSONSchema: s.JSONSchema, KeyProperties: nonNil(s.KeyColumns), ExtractedAt: e.now().UTC().Format(tsLayout),
			BookmarkBefore: st, BookmarkAfter: next,
		}
		_, err = e.commit(ctx, &commitStep{manifest: m, manifestKey: layout.CopyManifestKey(s.ID, st.Version, seq), bookmarkID: s.ID, next: next, rev: cur.Rev})
		if err == nil {
			e.log().Info("parallel copy complete", "stream", s.ID, "version", st.Version, "ranges", st.Ranges)
			return true, nil
		}
		if !errors.Is(err, bookmark.ErrConflict) || attempt > 0 {
			return false, err
		}
		// Another worker activated it (or moved it) meanwhile: look again.
	}
}

// copyPlanned runs the ranges of a planned parallel copy one after
// another, as a scheduled run does for a stream some other runs are
// copying in parallel: CopyParallel with one worker on the engine's own
// table source, so ranges whose lease is held are left to their run and
// max_batches bounds the stream's batches, as with several workers.
func (e *Engine) copyPlanned(ctx context.Context, s *record.Stream, budget Budget, rep report.Stream) report.Stream {
	own := func(context.Context) (TableSource, func(), error) { return e.Tables, func() {}, nil }
	addRange(&rep, e.CopyParallel(ctx, ParallelJob{Stream: s, Workers: 1, Open: own, Budget: budget}))
	return rep
}

// addRange folds a range's report into its stream's.
func addRange(rep *report.Stream, rr report.Stream) {
	rep.Rows += rr.Rows
	rep.Bytes += rr.Bytes
	rep.Batches += rr.Batches
	rep.TableVersion = rr.TableVersion
	rep.CopyDone = rep.CopyDone || rr.CopyDone
	if rr.Error != "" {
		rep.Error = rr.Error
	}
}

// Parallel is how a run copies large keyed streams: with more than one
// worker, a stream estimated above RowsPerRange rows (or already split) is
// split into ranges and copied by Workers workers, each with a
// TableSource from Open.
type Parallel struct {
	Workers      int
	RowsPerRange int64
	Open         func(ctx context.Context) (TableSource, func(), error)
}

// copy copies s within budget: in parallel when par asks for it and s can
// be split, else as one copy (CopyStream).
func (e *Engine) copy(ctx context.Context, s *record.Stream, budget Budget, par Parallel) report.Stream {
	if par.Workers <= 1 || s.Method == layout.Incremental {
		return e.CopyStream(ctx, s, budget)
	}
	if len(s.KeyColumns) == 0 {
		e.log().Warn("a stream without a primary key cannot be split into key ranges: it is copied in one pass (deployed, on the copy task when one invocation cannot finish it)", "stream", s.ID)
		return e.CopyStream(ctx, s, budget)
	}
	cur, err := e.Bookmarks.Get(ctx, s.ID)
	if err != nil {
		return report.Stream{Stream: s.ID, Method: s.Method, Error: err.Error()}
	}
	planned := cur.State.Ranges > 0 && !cur.State.CopyDone && cur.State.Method == s.Method
	if !planned && s.RowEstimate > 0 && s.RowEstimate <= par.RowsPerRange {
		return e.CopyStream(ctx, s, budget) // small enough for one worker
	}
	plan, err := e.PlanRanges(ctx, s, par.RowsPerRange)
	if err != nil {
		return report.Stream{Stream: s.ID, Method: s.Method, Error: err.Error()}
	}
	if plan.Done { // a finished FULL_TABLE copy: PlanRanges began no version for it
		return e.CopyStream(ctx, s, budget)
	}
	rep := e.CopyParallel(ctx, ParallelJob{Stream: s, Workers: par.Workers, Open: par.Open, Budget: budget})
	rep.NewColumns = s.NewColumns
	return rep
}

// ParallelJob is a planned parallel copy run by workers in one process.
type ParallelJob struct {
	Stream  *record.Stream
	Workers int
	// Open gives a worker a TableSource of its own (a connection: one
	// cannot serve two reads at once) and what closes it.
	Open   func(ctx context.Context) (TableSource, func(), error)
	Budget Budget
}

// CopyParallel copies the ranges of job.Stream's planned parallel copy
// with job.Workers workers until every range is done or the budget ends,
// each worker taking the next range no one holds. It reports the stream
// as one copy: rows, bytes and batches of every range, and whether the
// copy completed.
func (e *Engine) CopyParallel(ctx context.Context, job ParallelJob) (rep report.Stream) {
	s := job.Stream
	start := e.now()
	rep = report.Stream{Stream: s.ID, Method: s.Method}
	defer func() { rep.DurationMS = e.now().Sub(start).Milliseconds() }()
	cur, err := e.Bookmarks.Get(ctx, s.ID)
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	rep.TableVersion, rep.CopyDone = cur.State.Version, cur.State.CopyDone
	if cur.State.CopyDone || cur.State.Ranges == 0 {
		if cur.State.Ranges == 0 && !cur.State.CopyDone {
			rep.Error = fmt.Sprintf("stream %s has no parallel copy planned: plan it first", s.ID)
		}
		return rep
	}
	todo := make(chan int, cur.State.Ranges)
	for r := 0; r < cur.State.Ranges; r++ {
		todo <- r
	}
	close(todo)
	var mu sync.Mutex
	var wg sync.WaitGroup
	reserved := 0 // batches handed out, with max_batches
	for w := 0; w < max(job.Workers, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src, closeSrc, err := job.Open(ctx)
			if err != nil {
				mu.Lock()
				rep.Error = err.Error()
				mu.Unlock()
				return
			}
			defer closeSrc()
			we := *e
			we.Tables, we.Progress = src, nil
			// next reserves the next piece of work within the run's budget:
			// with max_batches, one batch at a time, so the stream's batches
			// stay within it whichever ranges write them.
			next := func() (Budget, bool) {
				mu.Lock()
				defer mu.Unlock()
				b := job.Budget
				if b.Expired(e.now()) || ctx.Err() != nil || b.MaxBatches > 0 && reserved >= b.MaxBatches {
					return b, false
				}
				if b.MaxBatches > 0 {
					reserved++
					b.MaxBatches = 1
				}
				return b, true
			}
			for r := range todo {
				if rg, err := e.Bookmarks.Get(ctx, layout.RangeBookmarkID(s.ID, r)); err == nil && rg.State.CopyDone && rg.State.Version == cur.State.Version {
					continue // done by an earlier run
				}
				for {
					budget, ok := next()
					if !ok {
						return // the budget is spent: leave the other ranges to the next run
					}
					rr, more := we.CopyRange(ctx, s, r, budget)
					mu.Lock()
					if budget.MaxBatches > 0 && rr.Batches == 0 {
						reserved-- // a range found done (or held) wrote nothing
					}
					addRange(&rep, rr)
					if e.Progress != nil {
						e.Progress.Update(s.ID, rep.Rows, s.RowEstimate)
					}
					mu.Unlock()
					if rr.Error != "" {
						return // this worker stops at its error; the run reports it
					}
					if !more {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	if !rep.CopyDone && rep.Error == "" {
		// Every range may be done with the activation still to write (a
		// run that died between the two): write it.
		done, err := e.ActivateRanges(ctx, s)
		if err != nil {
			rep.Error = err.Error()
		}
		rep.CopyDone = done
	}
	return rep
}
