package replicate

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/encode"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/report"
)

// LogSource is an open logical replication stream.
type LogSource interface {
	// Next returns the next event; it returns ctx's error when ctx ends.
	Next(ctx context.Context) (record.Event, error)
	// Ack confirms to the server that everything before flushLSN is
	// durable; the slot may then release that WAL.
	Ack(ctx context.Context, flushLSN uint64) error
}

// SlotRead is one bounded read of a slot up to a fence.
type SlotRead struct {
	Slot    string
	Streams []*record.Stream // LOG_BASED streams whose changes are written
	Log     LogSource
	// Fence is a commit LSN at or past which the drain stops: the LSN of a
	// heartbeat emitted at the start of the run, so a commit always
	// reaches it, even on an idle database.
	Fence  uint64
	Budget Budget
	// IdleTimeout ends a drain that receives nothing for this long.
	IdleTimeout time.Duration
}

// logStream is a stream's part of the current batch.
type logStream struct {
	s       *record.Stream
	version int64
	from    bookmark.State // the version's start: changes before it are in its copy
	enc     *encode.RowEncoder
	obj     *pendingObject // this batch's object, nil until a change arrives
	rows    int64
	first   uint64
	last    uint64
	idxOf   []string // the column list idx was built for
	idx     []int
	rep     *report.Stream
	trunc   bool
	cols    []string // the columns its objects hold, for the manifest
}

type drainer struct {
	e      *Engine
	d      SlotRead
	slotID string
	// st is the position as the drain reads on; saved is the bookmark as
	// stored (revision rev), what the next batch starts from.
	st    bookmark.State
	saved bookmark.State
	start bookmark.State // the bookmark as the run found it
	// ending marks the run's last commit; cutOff says the deadline or the
	// idle timeout ended it before the fence.
	ending, cutOff bool
	rev            int64
	streams        map[[2]string]*logStream
	open           []*logStream
	rows           int64
	bytes          int64
	inTx           bool
	txLSN          uint64
	lastLSN        uint64 // last change written in the open transaction
	rep            *report.Slot
	line           []byte
	meta           encode.Meta
	stamp          string // the batch's extraction time
	stats          map[string]*report.Stream
}

// ReadSlot writes the slot's changes for d.Streams in batches until the
// fence, the deadline, the idle timeout or ctx ends, committing each batch
// as data objects, a manifest, the slot bookmark and then the slot
// acknowledgment. It returns per-stream reports.
func (e *Engine) ReadSlot(ctx context.Context, d SlotRead, slotRep *report.Slot) ([]report.Stream, error) {
	dr := &drainer{e: e, d: d, slotID: layout.SlotBookmarkID(d.Slot), streams: map[[2]string]*logStream{}, rep: slotRep, stats: map[string]*report.Stream{}}
	cur, err := e.Bookmarks.Get(ctx, dr.slotID)
	if err != nil {
		return nil, err
	}
	dr.st, dr.rev = cur.State, cur.Rev
	dr.st.Method = layout.SlotDrain
	dr.saved, dr.start = dr.st, dr.st
	all, err := e.Bookmarks.All(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range d.Streams {
		st := all[s.ID].State
		rep := &report.Stream{Stream: s.ID, Method: layout.LogBased, TableVersion: st.Version}
		dr.stats[s.ID] = rep
		dr.streams[[2]string{s.Schema, s.Table}] = &logStream{s: s, version: st.Version, from: st,
			enc: encode.NewRowEncoder(s.Columns), rep: rep, cols: s.ColumnNames()}
	}
	slotRep.StartLSN = positionText(dr.st.CommittedLSN)
	err = dr.run(ctx)
	slotRep.EndLSN = positionText(dr.st.CommittedLSN)
	var out []report.Stream
	for _, s := range d.Streams {
		out = append(out, *dr.stats[s.ID])
	}
	return out, err
}

func (dr *drainer) run(ctx context.Context) error {
	dctx := ctx
	if !dr.d.Budget.Deadline.IsZero() {
		var cancel context.CancelFunc
		dctx, cancel = context.WithDeadline(ctx, dr.d.Budget.Deadline)
		defer cancel()
	}
	idle := dr.d.IdleTimeout
	if idle <= 0 {
		idle = 30 * time.Minute
	}
	// One watchdog for the idle timeout, reset on every event, rather than
	// a timeout context per event.
	ictx, stopIdle := context.WithCancel(dctx)
	defer stopIdle()
	watchdog := time.AfterFunc(idle, stopIdle)
	defer watchdog.Stop()
	for {
		ev, err := dr.d.Log.Next(ictx)
		if err != nil {
			if ictx.Err() != nil {
				// Deadline, idle or cancelled: commit what is complete and stop.
				dr.ending, dr.cutOff = true, true
				return dr.commit(ctx)
			}
			dr.abort(err)
			return fmt.Errorf("read slot %s: %w", dr.d.Slot, err)
		}
		watchdog.Reset(idle)
		stop, err := dr.handle(ctx, ev)
		if err != nil {
			dr.abort(err)
			return err
		}
		if stop {
			dr.rep.ReachedFence = true
			dr.ending = true
			return dr.commit(ctx)
		}
	}
}

func (dr *drainer) handle(ctx context.Context, ev record.Event) (stop bool, err error) {
	switch ev.Kind {
	case record.EventBegin:
		dr.inTx, dr.txLSN, dr.lastLSN = true, ev.CommitLSN, 0
	case record.EventChange:
		c := &ev.Change
		if dr.st.PartialCommitLSN != 0 && c.CommitLSN == dr.st.PartialCommitLSN && c.LSN <= dr.st.PartialLSN {
			return false, nil // written by the batch that ended inside this transaction
		}
		if err := dr.write(ctx, c); err != nil {
			return false, err
		}
		dr.lastLSN = c.LSN
		dr.rep.Changes++
		if dr.full() {
			return false, dr.commit(ctx)
		}
	case record.EventCommit:
		dr.inTx = false
		dr.st.CommittedLSN = ev.EndLSN
		dr.st.PartialCommitLSN, dr.st.PartialLSN = 0, 0
		dr.rep.Transactions++
		if ev.CommitTimeMicros != 0 {
			dr.rep.LagSeconds = time.Since(time.UnixMicro(ev.CommitTimeMicros)).Seconds()
		}
		if ev.CommitLSN >= dr.d.Fence {
			return true, nil
		}
		if dr.full() {
			return false, dr.commit(ctx)
		}
	}
	return false, nil
}

func (dr *drainer) full() bool {
	b := dr.d.Budget
	return dr.rows >= int64(b.BatchRows) || dr.bytes >= b.BatchBytes || b.Expired(dr.e.now())
}

// write appends one change to its stream's object in the open batch.
func (dr *drainer) write(ctx context.Context, c *record.Change) error {
	ls := dr.streams[[2]string{c.Schema, c.Table}]
	if ls == nil {
		return nil // not a selected stream
	}
	if ls.from.Before(c.CommitLSN, c.LSN) {
		// Before the version's start position: its copy, which began after
		// that position was recorded, holds the change (or the TRUNCATE
		// that began the version wiped it).
		return nil
	}
	if c.Op == record.Truncate {
		return dr.truncate(ctx, ls, c)
	}
	if c.Op == record.Update && c.Old != nil {
		if del, ok := oldKey(ls.s.KeyColumns, c); ok {
			// The row moved to another key: its old key is deleted first,
			// or a merge by key would keep the row under both.
			if err := dr.write(ctx, &del); err != nil {
				return err
			}
		}
	}
	if ls.index(c.Columns) {
		if err := dr.follow(ctx, ls, c); err != nil {
			return err
		}
	}
	if ls.obj == nil {
		obj, err := dr.e.createObject(ctx, layout.WALDataKey(ls.s.ID, ls.version, dr.st.Seq, dr.e.format()), ls.s)
		if err != nil {
			return err
		}
		ls.obj = obj
		ls.first = c.CommitLSN
		dr.open = append(dr.open, ls)
	}
	if dr.stamp == "" { // once per batch, not per change
		dr.stamp = dr.e.now().UTC().Format(tsLayout)
	}
	m := &dr.meta
	m.ExtractedAt, m.BatchedAt, m.TableVersion = dr.stamp, dr.stamp, ls.version
	m.LSN, m.Sequence, m.DeletedAt = c.CommitLSN, int64(c.LSN), ""
	if c.Op == record.Delete {
		m.DeletedAt = time.UnixMicro(c.CommitTimeMicros).UTC().Format(tsLayout)
	}
	var err error
	if dr.line, err = ls.enc.AppendValues(dr.line[:0], c.Values, ls.idx, m); err != nil {
		return fmt.Errorf("encode change of %s at %s: %w", ls.s.ID, formatLSN(c.LSN), err)
	}
	if err := ls.obj.out.WriteLine(dr.line); err != nil {
		return writeErr(ls.obj.key, err)
	}
	ls.rows++
	ls.last = c.CommitLSN
	dr.rows++
	dr.bytes += int64(len(dr.line))
	return nil
}

// oldKey returns a delete of the key an update moved its row from, when
// it changed a column of the stream's key (c.Old holds the old values of
// the identity columns it changed; the other key columns kept theirs).
func oldKey(key []string, c *record.Change) (record.Change, bool) {
	moved := false
	for _, k := range key {
		if slices.Contains(c.Old.Columns, k) {
			moved = true
		}
	}
	if !moved {
		return record.Change{}, false
	}
	del := record.Change{Op: record.Delete, Schema: c.Schema, Table: c.Table, LSN: c.LSN, CommitLSN: c.CommitLSN,
		Seq: c.Seq, CommitTimeMicros: c.CommitTimeMicros, Columns: key, Values: make([]record.Value, len(key))}
	for i, k := range key {
		if j := slices.Index(c.Old.Columns, k); j >= 0 {
			del.Values[i] = c.Old.Values[j]
		} else if j := slices.Index(c.Columns, k); j >= 0 {
			del.Values[i] = c.Values[j]
		} else {
			return record.Change{}, false // the update does not name it: cannot say which row it was
		}
	}
	return del, true
}

// truncate ends the stream's version at a TRUNCATE: what the batch holds
// so far is committed under it, and a new, empty version begins at the
// truncate, activated at once, so every reader of the current table sees
// it emptied; the changes after it go to the new version.
func (dr *drainer) truncate(ctx context.Context, ls *logStream, c *record.Change) error {
	if err := dr.commit(ctx); err != nil {
		return err
	}
	next, err := dr.e.truncateVersion(ctx, ls.s, c.CommitLSN, c.LSN)
	if err != nil {
		return err
	}
	ls.version, ls.from = next.Version, next
	ls.rep.TableVersion = next.Version
	ls.rep.Truncates++
	return nil
}

// index maps a change's column list to the encoder's columns (-1 for
// columns not replicated), reusing the last mapping when the list is the
// same. It reports whether the list holds a column the stream does not
// know: one added to the table after the stream was resolved.
func (ls *logStream) index(cols []string) (unknown bool) {
	if len(cols) == len(ls.idxOf) && (len(cols) == 0 || &cols[0] == &ls.idxOf[0] || slices.Equal(cols, ls.idxOf)) {
		return false
	}
	ls.idxOf, ls.idx = cols, ls.idx[:0]
	for _, c := range cols {
		i := ls.s.ColumnIndex(c)
		ls.idx = append(ls.idx, i)
		unknown = unknown || i < 0 && !slices.Contains(ls.s.Skipped, c)
	}
	return unknown
}

// follow takes in columns added to the table while the slot was being
// read: the stream is resolved again against the live table and, when
// its column set changed, the batch is committed up to the change before
// c and the stream's next objects (their encoder, Parquet schema and
// manifest columns) hold the new set, so c carries the new column from
// its first change on. A column of c that the live table no longer has
// (added and dropped again since) is skipped. A stream that cannot be
// resolved fails the drain before c: nothing past it is acknowledged.
func (dr *drainer) follow(ctx context.Context, ls *logStream, c *record.Change) error {
	ns, err := dr.e.Tables.Refresh(ctx, ls.s)
	if err != nil {
		return fmt.Errorf("stream %s: change at %s carries a column the stream did not know and the table cannot be resolved again: %w", ls.s.ID, formatLSN(c.LSN), err)
	}
	for _, col := range c.Columns {
		if !ns.Knows(col) {
			ns.Skipped = append(ns.Skipped, col) // dropped again since
		}
	}
	same := slices.Equal(ns.Columns, ls.s.Columns)
	if !same && ls.obj != nil {
		if err := dr.commit(ctx); err != nil {
			return err
		}
	}
	added := ns.NewColumns[len(ls.s.NewColumns):]
	*ls.s = ns // the run's copies and report see the stream as it is now
	if !same {
		ls.enc, ls.cols = encode.NewRowEncoder(ns.Columns), ns.ColumnNames()
		dr.e.log().Info("stream follows new columns", "stream", ns.ID, "columns", ls.cols, "added", added, "lsn", formatLSN(c.LSN))
	}
	ls.idxOf = nil
	ls.index(c.Columns)
	return nil
}

// commit ends the batch (see Engine.commit), acknowledging the slot
// once the bookmark holds. A batch may end inside a transaction: the
// bookmark then records how far into it the batch wrote.
func (dr *drainer) commit(ctx context.Context) error {
	defer dr.reset()
	// Compare with the stored bookmark, not the read position: commits of
	// transactions without selected changes (and the fence's heartbeat)
	// move only the read position, and the slot must still advance.
	before := dr.saved
	next := dr.st
	if dr.inTx && dr.lastLSN != 0 {
		next.PartialCommitLSN, next.PartialLSN = dr.txLSN, dr.lastLSN
	}
	if dr.ending {
		next.PartialRuns = dr.cutOffRuns(next)
	}
	var truncated []string
	for _, ls := range dr.streams {
		if ls.trunc {
			truncated = append(truncated, ls.s.ID)
		}
	}
	if len(dr.open) == 0 && len(truncated) == 0 && next.CommittedLSN == before.CommittedLSN && next.PartialRuns == before.PartialRuns && dr.rev > 0 {
		return nil // nothing moved
	}
	next.Seq++
	next.UpdatedAt = dr.e.now()
	m := &Manifest{Format: layout.ManifestFormat, DataFormat: dr.e.format(), Stream: "_slot", TapStreamID: dr.slotID, Method: layout.LogBased,
		Sequence: before.Seq, ExtractedAt: dr.e.now().UTC().Format(tsLayout), KeyProperties: []string{}, Objects: []ManifestObject{},
		TruncatedStreams: truncated, BookmarkBefore: before, BookmarkAfter: next}
	step := &commitStep{manifest: m, bookmarkID: dr.slotID, next: next, rev: dr.rev}
	for _, ls := range dr.open {
		ls.obj.meta = ManifestObject{Stream: ls.s.ID, TableVersion: ls.version, Rows: ls.rows, LSNFirst: ls.first, LSNLast: ls.last, Columns: ls.cols}
		step.objects = append(step.objects, ls.obj)
		m.Rows += ls.rows
	}
	if len(dr.open) > 0 || len(truncated) > 0 {
		step.manifestKey = layout.SlotManifestKey(dr.d.Slot, before.Seq)
	}
	// Only once committed may the server release the WAL: everything
	// before CommittedLSN is in the sink and the bookmark says so.
	if next.CommittedLSN != 0 {
		step.afterCommit = func(ctx context.Context) error {
			if err := dr.d.Log.Ack(ctx, next.CommittedLSN); err != nil {
				return fmt.Errorf("acknowledge %s on slot %s: %w", formatLSN(next.CommittedLSN), dr.d.Slot, err)
			}
			return nil
		}
	}
	rev, err := dr.e.commit(ctx, step)
	if rev != 0 {
		dr.st, dr.saved, dr.rev = next, next, rev
		for i, ls := range dr.open {
			ls.rep.Rows += ls.rows
			ls.rep.Bytes += m.Objects[i].Bytes
			ls.rep.Batches++
		}
	}
	if err == nil {
		dr.e.log().Debug("slot batch committed", "slot", dr.d.Slot, "seq", before.Seq, "rows", m.Rows, "committed_lsn", formatLSN(next.CommittedLSN))
	}
	return err
}

// cutOffRuns counts the consecutive runs cut off (by the deadline or the
// idle timeout, before the fence) at one place in the log: a run that
// completed no transaction is one more than the run before it (it ended
// inside the same transaction, or before the server had decoded enough of
// a large one to send anything); a run that moved on but ended inside a
// transaction is the first; any other run ends the count.
func (dr *drainer) cutOffRuns(next bookmark.State) int {
	switch {
	case !dr.cutOff:
		return 0
	case next.CommittedLSN == dr.start.CommittedLSN && dr.start.CommittedLSN != 0:
		return dr.start.PartialRuns + 1
	case next.PartialCommitLSN != 0:
		return 1
	}
	return 0
}

func (dr *drainer) reset() {
	for _, ls := range dr.open {
		ls.obj, ls.rows, ls.first, ls.last = nil, 0, 0, 0
	}
	for _, ls := range dr.streams {
		ls.trunc = false
	}
	dr.open = dr.open[:0]
	dr.rows, dr.bytes, dr.stamp = 0, 0, ""
}

func (dr *drainer) abort(err error) {
	for _, ls := range dr.open {
		if ls.obj != nil {
			ls.obj.abort()
		}
	}
	dr.reset()
}

func formatLSN(lsn uint64) string {
	return fmt.Sprintf("%X/%X", lsn>>32, lsn&0xFFFFFFFF) // PostgreSQL's pg_lsn form
}

// positionText prints a slot position for reports: empty before the first
// committed one (a new or reset slot starts where the server puts it).
func positionText(lsn uint64) string {
	if lsn == 0 {
		return ""
	}
	return formatLSN(lsn)
}
