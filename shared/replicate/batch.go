package replicate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/encode"
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
}

// SyncTable runs bounded batches of one FULL_TABLE or INCREMENTAL stream
// and reports what it did. It stops after a committed batch when the copy
// is done, the budget's deadline passes or ctx ends.
func (e *Engine) SyncTable(ctx context.Context, s *record.Stream, budget Budget) (rep report.Stream) {
	start := e.now()
	rep = report.Stream{Stream: s.ID, Method: s.Method}
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
	st, isNew := bookmark.Begin(cur.State, cur.Rev > 0, s.Method, s.ReplicationKey, s.KeyColumns, e.now())
	if !isNew && s.Method == record.FullTable && len(st.LastKey) == 0 && st.Seq > 0 {
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
	if s.Method != record.Incremental && st.Seq == 0 && len(st.UpperKey) == 0 && len(s.KeyColumns) > 0 {
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
	if s.Method == record.LogBased {
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
	c := &copier{e: e, s: s, budget: budget, st: st, rev: rev, rep: rep, rkIdx: -1}
	c.enc = encode.NewRowEncoder(s.Columns)
	for _, k := range s.KeyColumns {
		i := s.ColumnIndex(k)
		if i < 0 {
			return nil, fmt.Errorf("stream %s: key column %q is not among the selected columns", s.ID, k)
		}
		c.keyIdx = append(c.keyIdx, i)
	}
	if len(st.LastKey) > 0 && !equalStrings(st.KeyColumns, s.KeyColumns) {
		return nil, fmt.Errorf("stream %s: the primary key changed from (%v) to (%v) since the copy began: reset the stream to copy it again", s.ID, st.KeyColumns, s.KeyColumns)
	}
	if s.Method == record.Incremental {
		if c.rkIdx = s.ColumnIndex(s.ReplicationKey); c.rkIdx < 0 {
			return nil, fmt.Errorf("stream %s: replication key %q is not a selected column", s.ID, s.ReplicationKey)
		}
	}
	return c, nil
}

func (c *copier) run(ctx context.Context) error {
	firstPage := true
	var lastBatch time.Duration
	for {
		now := c.e.now()
		if err := ctx.Err(); err != nil {
			return nil
		}
		// Do not start a batch that cannot finish before the deadline.
		if c.budget.Expired(now.Add(lastBatch)) && !firstPage {
			return nil
		}
		if c.st.Method != record.Incremental && c.st.CopyDone {
			return nil
		}
		if c.budget.MaxBatches > 0 && c.rep.Batches >= c.budget.MaxBatches {
			return nil
		}
		t0 := now
		more, err := c.batch(ctx, firstPage)
		if err != nil {
			return err
		}
		lastBatch = c.e.now().Sub(t0)
		firstPage = false
		if !more {
			return nil
		}
	}
}

// batch writes one batch: data object, then manifest, then bookmark. It
// returns whether more rows may follow.
func (c *copier) batch(ctx context.Context, firstPage bool) (bool, error) {
	s, st := c.s, c.st
	// One row more than a batch holds: seeing it means the batch is not the
	// last, so a table whose size is a multiple of the batch needs no empty
	// trailing batch.
	q := record.PageQuery{Stream: s, Limit: c.budget.BatchRows + 1}
	switch s.Method {
	case record.Incremental:
		q.From = st.ReplicationKeyValue
		// The first page of a run re-reads the last value (>=): rows that
		// arrived with that value since the last run are not lost.
		q.FromInclusive = firstPage
		q.After = st.LastKey
	default:
		q.After, q.Upto = st.LastKey, st.UpperKey
	}
	now := c.e.now().UTC()
	meta := encode.Meta{
		ExtractedAt:  now.Format(tsLayout),
		BatchedAt:    now.Format(tsLayout),
		TableVersion: st.Version,
		LSN:          c.lsn,
	}
	var (
		rows, plain int64
		lastKey     []string
		lastRK      *string
		tieRK       []byte
		line        []byte
		stoppedOn   bool
	)
	seqBase := st.Seq * 1_000_000_000
	noKey := len(s.KeyColumns) == 0
	info, err := c.e.Sink.Write(ctx, dataKey(s.ID, st.Version, st.Seq), "application/x-ndjson", func(w io.Writer) error {
		gz := encode.NewGzipLines(w)
		err := c.e.Tables.Scan(ctx, q, func(row [][]byte) error {
			if c.pageFull(rows, gz.Plain, row, tieRK) {
				stoppedOn = true
				return record.ErrStopPage
			}
			meta.Sequence = seqBase + rows
			var err error
			if line, err = c.enc.AppendRow(line[:0], row, &meta); err != nil {
				return err
			}
			if err := gz.WriteLine(line); err != nil {
				return err
			}
			rows++
			if !noKey {
				lastKey = textValues(lastKey[:0], row, c.keyIdx)
			}
			if c.rkIdx >= 0 {
				tieRK = append(tieRK[:0], row[c.rkIdx]...)
			}
			if c.e.Progress != nil && rows%10000 == 0 {
				c.e.Progress.Update(s.ID, c.rep.Rows+rows, s.RowEstimate)
			}
			return nil
		})
		if err != nil {
			return err
		}
		plain = gz.Plain
		return gz.Close()
	})
	if err != nil {
		return false, fmt.Errorf("write batch %d of %s: %w", st.Seq, s.ID, err)
	}
	if c.rkIdx >= 0 && rows > 0 {
		v := string(tieRK)
		lastRK = &v
	}
	var more bool
	var next bookmark.State
	switch s.Method {
	case record.Incremental:
		if rows == 0 {
			return false, nil // nothing new: no object is announced, no bookmark moves
		}
		more = stoppedOn
		next = st.Increment(lastRK, lastKey, c.e.now())
	default:
		// A page that was not stopped early read to the end of the table.
		done := !stoppedOn
		more = !done
		next = st.Page(lastKey, done, c.e.now())
	}
	m := &Manifest{
		Format: "pg2s3.manifest.v1", Stream: s.Table, TapStreamID: s.ID, Schema: s.Schema, Table: s.Table,
		Method: s.Method, TableVersion: st.Version, Sequence: st.Seq,
		VersionStarted:  c.started && st.Seq == 0,
		VersionComplete: s.Method != record.Incremental && next.CopyDone,
		JSONSchema:      s.JSONSchema, KeyProperties: nonNil(s.KeyColumns), ReplicationKey: s.ReplicationKey,
		Objects: []ManifestObject{{ObjectInfo: info, Rows: rows, PlainBytes: plain}},
		Rows:    rows, ExtractedAt: meta.ExtractedAt, BookmarkBefore: st, BookmarkAfter: next,
	}
	if err := putManifest(ctx, c.e.Sink, manifestKey(s.ID, st.Version, st.Seq), m); err != nil {
		return false, err
	}
	rev, err := c.e.Bookmarks.Put(ctx, s.ID, next, c.rev)
	if err != nil {
		if errors.Is(err, bookmark.ErrConflict) {
			return false, fmt.Errorf("commit batch %d of %s: %w: stopping this stream", st.Seq, s.ID, err)
		}
		return false, fmt.Errorf("commit batch %d of %s: %w", st.Seq, s.ID, err)
	}
	c.st, c.rev = next, rev
	c.rep.Rows += rows
	c.rep.Bytes += info.Bytes
	c.rep.Batches++
	c.e.log().Debug("batch committed", "stream", s.ID, "version", st.Version, "seq", st.Seq, "rows", rows, "bytes", info.Bytes)
	if c.e.Progress != nil {
		c.e.Progress.Update(s.ID, c.rep.Rows, s.RowEstimate)
	}
	return more, nil
}

// pageFull says whether the batch must end before row. Keyset pages end
// on the row or byte budget or the deadline. Without a key, incremental
// pages end only between two replication key values (the next page starts
// after the last value), and one-pass copies end only at the deadline.
func (c *copier) pageFull(rows, plain int64, row [][]byte, lastRK []byte) bool {
	deadline := c.budget.Expired(c.e.now())
	full := deadline || rows >= int64(c.budget.BatchRows) || plain >= c.budget.BatchBytes
	switch {
	case !full:
		return false
	case len(c.s.KeyColumns) > 0:
		return true
	case c.s.Method == record.Incremental:
		return string(row[c.rkIdx]) != string(lastRK)
	default:
		return deadline
	}
}

// tsLayout is the output contract's timestamp form.
const tsLayout = "2006-01-02T15:04:05.000000Z"

func textValues(dst []string, row [][]byte, idx []int) []string {
	for _, i := range idx {
		dst = append(dst, string(row[i]))
	}
	return dst
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
