package replicate

import (
	"context"
	"errors"
	"fmt"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/encode"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
)

// run reads the stream in batches and stops after a committed batch when
// the budget is spent. A batch commits while the next one is read (the
// server goes on with the next page instead of waiting), one at a time
// and in order: a batch's commit waits for the one before, and run
// returns once the last has committed or failed.
// A keyed copy reads one page per batch by keyset (after the bookmark's
// last key, up to the copy's upper key), each a streamed index range scan;
// so does an INCREMENTAL stream whose replication key leads an index, in
// (key, primary key) order. Other INCREMENTAL streams and copies without
// a key read with one ordered scan per run, cut into batches as rows
// arrive: one sort per run without an index.
func (c *copier) run(ctx context.Context) error {
	err := c.read(ctx)
	if serr := c.settle(); err == nil {
		err = serr
	}
	return err
}

// read is run's reading: the last batch it commits may still be in
// flight when it returns.
func (c *copier) read(ctx context.Context) error {
	if c.st.Method != layout.Incremental && c.st.CopyDone {
		return nil
	}
	keyed := len(c.keyIdx) > 0
	switch {
	case c.s.Method != layout.Incremental && keyed:
		return c.pages(ctx, func() record.PageQuery {
			return record.PageQuery{Stream: c.s, After: c.st.LastKey, Upto: c.st.UpperKey}
		})
	case c.s.Method == layout.Incremental && keyed && c.s.ReplicationKeyIndexed:
		// The first page reads >= the last value: rows that arrived with it
		// since the last run are not lost (the rows read again carry the
		// same key). The pages after it continue strictly after the last
		// (key, primary key) written, so ties across pages lose nothing.
		first := true
		return c.pages(ctx, func() record.PageQuery {
			q := record.PageQuery{Stream: c.s, From: c.st.ReplicationKeyValue}
			if !first {
				q.After = c.st.LastKey
			}
			first = false
			return q
		})
	}
	q := record.PageQuery{Stream: c.s}
	if c.s.Method == layout.Incremental {
		q.From = c.st.ReplicationKeyValue // >= the last value, as above
	}
	_, err := c.scan(ctx, q, false)
	return err
}

// pages reads one streamed page per batch until the end or the budget.
func (c *copier) pages(ctx context.Context, next func() record.PageQuery) error {
	for {
		q := next()
		q.Limit = c.budget.BatchRows + 1 // one more row: seeing it means more follow
		more, err := c.scan(ctx, q, true)
		if err != nil || !more || c.spent() {
			return err
		}
	}
}

// scan writes the rows of q into batches. With onePage, the scan ends
// after the first batch is committed. It returns whether rows remain.
func (c *copier) scan(ctx context.Context, q record.PageQuery, onePage bool) (more bool, err error) {
	var b *openBatch
	stopped := false
	err = c.e.Tables.Scan(ctx, q, func(row [][]byte) error {
		if b != nil && c.full(b) {
			full := b
			b = nil // commit owns it now, and aborts it if it fails
			if err := c.commit(ctx, full, false); err != nil {
				return err
			}
			if onePage || c.spent() {
				stopped = true
				return record.ErrStopPage
			}
		}
		if b == nil {
			var err error
			if b, err = c.open(ctx); err != nil {
				return err
			}
		}
		return b.add(c, row)
	})
	if err != nil {
		if b != nil {
			b.obj.abort()
		}
		return false, err
	}
	if stopped || ctx.Err() != nil {
		if b != nil {
			b.obj.abort()
		}
		return stopped, nil
	}
	// The read reached the end. A copy commits its last batch as done,
	// even empty (it announces the version); INCREMENTAL writes nothing
	// when nothing is new.
	if b == nil && c.s.Method != layout.Incremental {
		if b, err = c.open(ctx); err != nil {
			return false, err
		}
	}
	if b == nil {
		return false, nil
	}
	return false, c.commit(ctx, b, true)
}

// full says the open batch takes no more rows.
// The clock is read every clockRows rows (and for a batch's first row):
// reading it for every row cost 3 % of a copy's CPU, and a deadline met a
// few hundred rows late is met well under a millisecond late.
func (c *copier) full(b *openBatch) bool {
	return b.rows >= int64(c.budget.BatchRows) || b.obj.out.PlainBytes() >= c.budget.BatchBytes ||
		b.rows%clockRows == 1 && c.budget.Expired(c.e.now())
}

// clockRows is how often full reads the clock.
const clockRows = 256

// spent says the run stops after the batch just committed.
func (c *copier) spent() bool {
	batches := c.rep.Batches
	if c.pending != nil {
		batches++
	}
	return c.budget.Expired(c.e.now()) || c.budget.MaxBatches > 0 && batches >= c.budget.MaxBatches
}

// openBatch is the batch rows are being written to.
type openBatch struct {
	seq     int64
	obj     *pendingObject
	meta    encode.Meta
	rows    int64
	lastKey [][]byte // the last row's key, copied (rows are reused by the reader)
	lastRK  []byte
	line    []byte
}

func (c *copier) open(ctx context.Context) (*openBatch, error) {
	st := c.st
	now := c.e.now().UTC().Format(tsLayout)
	b := &openBatch{seq: st.Seq, meta: encode.Meta{ExtractedAt: now, BatchedAt: now, TableVersion: st.Version, LSN: c.lsn}}
	var err error
	if b.obj, err = c.e.createObject(ctx, layout.DataKey(c.s.ID, st.Version, st.Seq, c.e.format()), c.s); err != nil {
		return nil, fmt.Errorf("batch %d of %s: %w", st.Seq, c.s.ID, err)
	}
	return b, nil
}

func (b *openBatch) add(c *copier, row [][]byte) error {
	b.meta.Sequence = b.seq*1_000_000_000 + b.rows
	if rw, ok := b.obj.out.(encode.RowWriter); ok {
		// Straight from the text form (Parquet): no JSON line between.
		if err := rw.WriteRow(row, &b.meta); err != nil {
			if ce := (*encode.ColumnError)(nil); errors.As(err, &ce) {
				return fmt.Errorf("read %s: %w", c.s.ID, err)
			}
			return fmt.Errorf("write batch %d of %s: %w", b.seq, c.s.ID, err)
		}
	} else {
		var err error
		if b.line, err = c.enc.AppendRow(b.line[:0], row, &b.meta); err != nil {
			return fmt.Errorf("read %s: %w", c.s.ID, err)
		}
		if err := b.obj.out.WriteLine(b.line); err != nil {
			return fmt.Errorf("write batch %d of %s: %w", b.seq, c.s.ID, err)
		}
	}
	b.rows++
	if len(b.lastKey) != len(c.keyIdx) {
		b.lastKey = make([][]byte, len(c.keyIdx))
	}
	for i, k := range c.keyIdx {
		b.lastKey[i] = append(b.lastKey[i][:0], row[k]...)
	}
	if c.rkIdx >= 0 {
		b.lastRK = append(b.lastRK[:0], row[c.rkIdx]...)
	}
	if c.e.Progress != nil && b.rows%10000 == 0 {
		c.e.Progress.Update(c.s.ID, c.rep.Rows+b.rows, c.s.RowEstimate)
	}
	return nil
}

// commit ends a batch (see Engine.commit) and starts its commit, behind
// the reading of the next batch, which builds on the bookmark the batch
// moves to. It first settles the commit before (see settle). last says
// the scan reached the end of the table. The batch is commit's from the
// call on: whatever fails, its object is committed or aborted.
func (c *copier) commit(ctx context.Context, b *openBatch, last bool) error {
	if err := c.settle(); err != nil {
		b.obj.abort()
		return err
	}
	// The encoder ends here, on the reading goroutine: what runs behind
	// the next batch is the sink's commit, the manifest and the bookmark
	// (waiting on storage), and one batch's encoder is alive at a time
	// (two held two sets of gzip blocks, and the peak memory grew).
	if err := b.obj.finish(); err != nil {
		return err
	}
	s, st := c.s, c.st
	var next bookmark.State
	var lastKey []string
	if b.rows > 0 {
		for _, k := range b.lastKey {
			lastKey = append(lastKey, string(k))
		}
	}
	if s.Method == layout.Incremental {
		v := string(b.lastRK)
		next = st.Increment(&v, lastKey, c.e.now())
	} else {
		next = st.Page(lastKey, last, c.e.now())
	}
	m := &Manifest{
		Format: layout.ManifestFormat, DataFormat: c.e.format(), Stream: s.Table, TapStreamID: s.ID, Schema: s.Schema, Table: s.Table,
		Method: s.Method, TableVersion: st.Version, Sequence: st.Seq,
		VersionStarted:  c.started && st.Seq == c.firstSeq,
		VersionComplete: !c.ranged && s.Method != layout.Incremental && next.CopyDone,
		JSONSchema:      s.JSONSchema, KeyProperties: nonNil(s.KeyColumns), ReplicationKey: s.ReplicationKey,
		Rows: b.rows, ExtractedAt: b.meta.ExtractedAt, BookmarkBefore: st, BookmarkAfter: next,
	}
	b.obj.meta = ManifestObject{Rows: b.rows, Columns: s.ColumnNames()}
	step := &commitStep{objects: []*pendingObject{b.obj}, manifest: m, manifestKey: layout.CopyManifestKey(s.ID, st.Version, st.Seq),
		bookmarkID: c.bookmarkID, next: next, rev: c.rev}
	f := &inflight{done: make(chan struct{}), manifest: m}
	go func() {
		defer close(f.done)
		f.rev, f.err = c.e.commit(ctx, step)
	}()
	c.pending, c.st = f, next
	return nil
}

// inflight is a batch whose commit runs behind the reading of the next.
type inflight struct {
	done chan struct{} // closed when the commit returned
	rev  int64         // the bookmark's revision after it
	err  error
	// manifest is the batch's: its rows, and the bookmark before it (what
	// is durable when the commit fails).
	manifest *Manifest
}

// settle waits for the batch commit in flight, if any, and takes its
// result: the bookmark's revision and the report's counts, or its error
// with the bookmark state put back to what is durable. Only the reading
// goroutine changes the copier; the commit's goroutine only commits.
func (c *copier) settle() error {
	f := c.pending
	if f == nil {
		return nil
	}
	<-f.done
	c.pending = nil
	m := f.manifest
	if f.err != nil {
		c.st = m.BookmarkBefore
		return f.err
	}
	c.rev = f.rev
	c.rep.Rows += m.Rows
	c.rep.Bytes += m.Objects[0].Bytes
	c.rep.Batches++
	c.e.log().Debug("batch committed", "stream", c.s.ID, "version", m.TableVersion, "seq", m.Sequence, "rows", m.Rows, "bytes", m.Objects[0].Bytes)
	if c.e.Progress != nil {
		c.e.Progress.Update(c.s.ID, c.rep.Rows, c.s.RowEstimate)
	}
	return nil
}
