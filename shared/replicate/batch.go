package replicate

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/encode"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/report"
)

// Budget bounds one run.
type Budget struct {
	BatchRows  int
	BatchBytes int64
	// MaxBatches caps the batches per stream in one run (0: no cap).
	MaxBatches int
	// Deadline is when the run must have committed its last batch.
	Deadline time.Time
}

// Expired says whether the deadline has passed at now.
func (b Budget) Expired(now time.Time) bool { return !b.Deadline.IsZero() && !now.Before(b.Deadline) }

// Engine runs batches of table streams. Its fields are its dependencies.
type Engine struct {
	Tables    TableSource
	Sink      Sink
	Bookmarks Bookmarks
	Log       *slog.Logger
	Progress  *report.Progress
	Now       func() time.Time
	// Format is the data objects' format: layout.JSONL (also when empty)
	// or layout.Parquet.
	Format layout.Format
	// Leaser, when set, gives each range of a parallel copy to one worker
	// at a time, leased to Owner (the run's id).
	Leaser Leaser
	Owner  string
	// OnTask says the engine runs as the task (no deadline): its run
	// reports say so.
	OnTask bool
}

// format returns the engine's data object format, JSON Lines by default.
func (e *Engine) format() layout.Format {
	if e.Format == "" {
		return layout.JSONL
	}
	return e.Format
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Engine) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.Default()
}

// copier holds one stream's progress through a run.
type copier struct {
	e      *Engine
	s      *record.Stream
	budget Budget
	st     bookmark.State
	rev    int64
	rep    *report.Stream
	enc    *encode.RowEncoder
	keyIdx []int
	rkIdx  int
	// lsn is stamped on rows as _sdc_lsn (log-based initial copy).
	lsn uint64
	// started says this run began the current table version.
	started bool
	// A range of a parallel copy: its own bookmark item, batches numbered
	// from firstSeq, and no activation when it completes (the version is
	// complete only once every range is; see Engine.CopyRange).
	bookmarkID string
	ranged     bool
	firstSeq   int64
	// pending is the batch commit in flight, behind the reading of the
	// next batch (see copier.commit).
	pending *inflight
}

// CopyStream runs bounded batches of one FULL_TABLE or INCREMENTAL stream
// and reports what it did. It stops after a committed batch when the copy
// is done, the budget's deadline passes or ctx ends.
func (e *Engine) CopyStream(ctx context.Context, s *record.Stream, budget Budget) (rep report.Stream) {
	start := e.now()
	rep = report.Stream{Stream: s.ID, Method: s.Method, NewColumns: s.NewColumns}
	defer func() { rep.DurationMS = e.now().Sub(start).Milliseconds() }()
	cur, err := e.Bookmarks.Get(ctx, s.ID)
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	if cur.Rev > 0 {
		before := cur.State
		rep.BookmarkBefore = &before
	}
	if cur.Rev > 0 && cur.State.Ranges > 0 && !cur.State.CopyDone && cur.State.Method == s.Method {
		return e.copyPlanned(ctx, s, budget, rep) // a parallel copy is under way: its ranges, one after another
	}
	st, isNew := bookmark.Begin(cur.State, cur.Rev > 0, s.Method, s.ReplicationKey, s.KeyColumns, e.now())
	if !isNew && s.Method == layout.FullTable && len(st.LastKey) == 0 && st.Seq > 0 {
		// An unfinished copy without a key (a view or a table without a
		// primary key) cannot resume: start a new version.
		st = bookmark.Reset(st, e.now())
		isNew = true
	}
	c, err := e.newCopier(s, budget, st, cur.Rev, &rep)
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	if s.Method != layout.Incremental && st.Seq == 0 && len(st.UpperKey) == 0 && len(s.KeyColumns) > 0 {
		// A copy reads the rows that exist when it begins, up to the
		// largest key then: it ends however fast rows are inserted.
		upper, err := e.Tables.MaxKey(ctx, s)
		if err != nil {
			rep.Error = err.Error()
			return rep
		}
		c.st.UpperKey = upper
	}
	c.started = isNew || st.Seq == 0
	if s.Method == layout.LogBased {
		c.lsn = st.StartLSN // copy rows sort before the changes after it
	}
	rep.NewVersion = isNew
	if err := c.run(ctx); err != nil {
		rep.Error = err.Error()
		e.log().Error("stream failed", "stream", s.ID, "err", err)
	}
	after := c.st
	rep.BookmarkAfter = &after
	rep.TableVersion = c.st.Version
	rep.CopyDone = c.st.CopyDone
	return rep
}

func (e *Engine) newCopier(s *record.Stream, budget Budget, st bookmark.State, rev int64, rep *report.Stream) (*copier, error) {
	c := &copier{e: e, s: s, budget: budget, st: st, rev: rev, rep: rep, rkIdx: -1, bookmarkID: s.ID}
	c.enc = encode.NewRowEncoder(s.Columns)
	for _, k := range s.KeyColumns {
		i := s.ColumnIndex(k)
		if i < 0 {
			return nil, fmt.Errorf("stream %s: key column %q is not among the selected columns", s.ID, k)
		}
		c.keyIdx = append(c.keyIdx, i)
	}
	if len(st.LastKey) > 0 && !slices.Equal(st.KeyColumns, s.KeyColumns) {
		return nil, fmt.Errorf("stream %s: the primary key changed from (%v) to (%v) since the copy began: reset the stream to copy it again", s.ID, st.KeyColumns, s.KeyColumns)
	}
	if s.Method == layout.Incremental {
		if c.rkIdx = s.ColumnIndex(s.ReplicationKey); c.rkIdx < 0 {
			return nil, fmt.Errorf("stream %s: replication key %q is not a selected column", s.ID, s.ReplicationKey)
		}
	}
	return c, nil
}

// tsLayout is the output contract's timestamp form.
const tsLayout = "2006-01-02T15:04:05.000000Z"

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
