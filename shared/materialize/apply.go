package materialize

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/stored"
)

// applyLog applies the version's slot batches after the position, in log
// order, as many per commit as MaxRows allows, until the first batch the
// slot's bookmark has not committed.
func (r *run) applyLog(ctx context.Context, version int64) error {
	keep := func(slot string, seq int64) bool { return slot != r.pos.Slot || seq >= r.pos.SlotSeq }
	ix, err := stored.LoadLogIndex(ctx, r.m.Sink, map[string]bool{r.s.ID: true}, keep)
	if err != nil {
		return err
	}
	slotSeq := map[string]int64{} // next uncommitted slot batch per slot
	at := logKey(r.pos.CommittedLSN, r.pos.PartialCommitLSN, r.pos.PartialLSN)
	var todo []stored.LogObject
	for _, o := range ix.Objects[r.s.ID][version] {
		if !less(at, logKey(o.Committed, o.PartialCommit, o.Partial)) {
			continue // applied
		}
		next, ok := slotSeq[o.Slot]
		if !ok {
			bm, err := r.m.Bookmarks.Get(ctx, layout.SlotBookmarkID(o.Slot))
			if err != nil {
				return fmt.Errorf("read slot bookmark %s: %w", o.Slot, err)
			}
			next = bm.State.Seq
			slotSeq[o.Slot] = next
		}
		if o.Seq >= next {
			break // written, not committed yet; nor is anything after it
		}
		todo = append(todo, o)
	}
	return r.applyGroups(ctx, len(todo), false, func(g *group, i int) (Position, error) {
		o := todo[i]
		if err := r.addObject(ctx, g, o.Key); err != nil {
			return Position{}, err
		}
		return Position{Version: version, CopySeq: r.pos.CopySeq, CopyDone: r.pos.CopyDone, Slot: o.Slot, SlotSeq: o.Seq + 1,
			CommittedLSN: o.Committed, PartialCommitLSN: o.PartialCommit, PartialLSN: o.Partial}, nil
	})
}

// applyIncremental applies an INCREMENTAL version's batches after the
// position, up to the last one the stream's bookmark committed.
func (r *run) applyIncremental(ctx context.Context, v *stored.Version, st bookmark.State) error {
	var todo []string
	for _, key := range v.Manifests {
		o, ok := layout.ParseObject(key)
		if !ok || o.Seq < r.pos.CopySeq {
			continue
		}
		if !(st.Version > v.Number || st.Version == v.Number && st.Seq > o.Seq) {
			break
		}
		todo = append(todo, key)
	}
	// Batches without rows commit nothing: they are read again with the
	// next batch that has rows.
	return r.applyGroups(ctx, len(todo), true, func(g *group, i int) (Position, error) {
		m, err := r.manifest(ctx, todo[i])
		if err != nil {
			return Position{}, err
		}
		for _, o := range m.Objects {
			if err := r.addObject(ctx, g, o.Key); err != nil {
				return Position{}, err
			}
		}
		return Position{Version: v.Number, CopySeq: m.Sequence + 1}, nil
	})
}

// addObject merges the rows of data object key into g.
func (r *run) addObject(ctx context.Context, g *group, key string) error {
	rows, err := r.readObject(ctx, key)
	if err != nil {
		return err
	}
	if err := g.add(rows); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// applyGroups commits n batches in order, as many per commit as MaxRows
// allows (at least one): add merges batch i into the group and returns
// the position after it. A group without changes ends the run there when
// emptyEnds; the deadline ends it before a group.
func (r *run) applyGroups(ctx context.Context, n int, emptyEnds bool, add func(g *group, i int) (Position, error)) error {
	for i := 0; i < n; {
		if r.timeUp() {
			return nil
		}
		g := r.newGroup()
		var next Position
		for first := i; i < n && (i == first || g.changes < int64(r.opts.MaxRows)); i++ {
			p, err := add(g, i)
			if err != nil {
				return err
			}
			next = p
		}
		if emptyEnds && g.changes == 0 {
			break
		}
		if err := r.commitGroup(ctx, g, next); err != nil {
			return err
		}
	}
	r.res.CaughtUp = true
	return nil
}

// commitGroup writes the group as one snapshot: equality deletes on the
// key of every key it touched, and the new rows of the keys it keeps (a
// keyless group: its rows, appended), with next in the summary.
func (r *run) commitGroup(ctx context.Context, g *group, next Position) error {
	if err := g.fillMissing(ctx); err != nil {
		return err
	}
	sc, err := table.SchemaToArrowSchema(r.tbl.Schema(), nil, true, false)
	if err != nil {
		return err
	}
	var upserts, deletes int64
	rows := g.rows
	if len(g.keys) > 0 {
		rows = nil
		for _, ks := range g.order {
			e := g.entries[ks]
			if e.deleted {
				deletes++
				continue
			}
			rows = append(rows, e.vals)
		}
	}
	upserts = int64(len(rows))
	if r.opts.CopyOnWrite && len(g.keys) > 0 && len(g.order) > 0 {
		if err := r.overwriteGroup(ctx, g, sc, rows, next); err != nil {
			return err
		}
		r.res.Changes += g.changes
		r.res.Upserts += upserts
		r.res.Deletes += deletes
		return nil
	}
	tx := r.tbl.NewTransaction()
	rd := tx.NewRowDelta(iceberg.Properties{propPosition: next.summary()})
	if len(rows) > 0 {
		for df, err := range table.WriteRecords(ctx, r.tbl, sc, r.rowRecords(sc, rows)) {
			if err != nil {
				return fmt.Errorf("write rows of %v: %w", r.opts.Table, err)
			}
			rd.AddRows(df)
		}
	}
	if len(g.keys) > 0 && len(g.order) > 0 {
		ids, err := keyFieldIDs(r.tbl.Schema(), r.s)
		if err != nil {
			return err
		}
		var keyFields []iceberg.NestedField
		for _, id := range ids {
			f, _ := r.tbl.Schema().FindFieldByID(id)
			keyFields = append(keyFields, f)
		}
		ksc, err := table.SchemaToArrowSchema(iceberg.NewSchema(0, keyFields...), nil, true, false)
		if err != nil {
			return err
		}
		keys := records(ksc, iceberg.NewSchema(0, keyFields...), func(add addRow) error {
			for _, ks := range g.order {
				if err := add(nil, g.entries[ks].vals); err != nil {
					return err
				}
			}
			return nil
		})
		dels, err := tx.WriteEqualityDeletes(ctx, ids, keys)
		if err != nil {
			return fmt.Errorf("write deletes of %v: %w", r.opts.Table, err)
		}
		rd.AddDeletes(dels...)
	}
	if err := rd.Commit(ctx); err != nil {
		return fmt.Errorf("stage changes of %v: %w", r.opts.Table, err)
	}
	if err := r.commit(ctx, tx, next); err != nil {
		return err
	}
	r.res.Changes += g.changes
	r.res.Upserts += upserts
	r.res.Deletes += deletes
	return nil
}

// overwriteGroup commits a group copy-on-write: one snapshot that rewrites
// the data files holding any of its keys without those rows and adds the
// rows of the keys it keeps.
func (r *run) overwriteGroup(ctx context.Context, g *group, sc *arrow.Schema, rows []map[string]any, next Position) error {
	es := make([]*entry, 0, len(g.order))
	for _, ks := range g.order {
		es = append(es, g.entries[ks])
	}
	filter, err := g.keyFilter(es)
	if err != nil {
		return err
	}
	rdr := array.ReaderFromIter(sc, r.rowRecords(sc, rows))
	defer rdr.Release()
	tx := r.tbl.NewTransaction()
	if err := tx.Overwrite(ctx, rdr, iceberg.Properties{propPosition: next.summary()}, table.WithOverwriteFilter(filter)); err != nil {
		return fmt.Errorf("rewrite the rows of %v: %w", r.opts.Table, err)
	}
	return r.commit(ctx, tx, next)
}

// rowRecords turns rows in the native form into Arrow record batches of
// the table's schema, recordRows at a time.
func (r *run) rowRecords(sc *arrow.Schema, rows []map[string]any) func(yield func(arrow.RecordBatch, error) bool) {
	return records(sc, r.tbl.Schema(), func(add addRow) error {
		for _, v := range rows {
			if err := add(nil, v); err != nil {
				return err
			}
		}
		return nil
	})
}
