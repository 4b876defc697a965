package materialize

import (
	"context"
	"fmt"
	"slices"

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

// group is the changes of one commit merged by key (or, keyless, the
// rows to append), in the native form.
type group struct {
	r       *run
	fields  []iceberg.NestedField // the table's columns
	keys    []string              // key column names
	entries map[string]*entry
	order   []string
	rows    []map[string]any // keyless
	changes int64
}

// entry is one key's state after the group's changes.
type entry struct {
	vals    map[string]any
	deleted bool
	// fresh: the key was deleted earlier in the group, so a column its
	// re-insert did not carry has no earlier value to keep.
	fresh bool
	has   map[string]bool
}

func (r *run) newGroup() *group {
	return &group{r: r, fields: r.tbl.Schema().Fields(), keys: r.s.KeyColumns, entries: map[string]*entry{}}
}

// add merges rows (the JSON contract's form, in change order).
func (g *group) add(rows []map[string]any) error {
	for _, row := range rows {
		g.changes++
		vals := map[string]any{}
		for _, f := range g.fields {
			raw, ok := row[f.Name]
			if !ok {
				continue
			}
			v, err := native(f.Type, raw)
			if err != nil {
				return fmt.Errorf("column %s: %w", f.Name, err)
			}
			vals[f.Name] = v
		}
		if len(g.keys) == 0 {
			g.rows = append(g.rows, vals)
			continue
		}
		kv := make([]any, len(g.keys))
		for i, k := range g.keys {
			if kv[i] = vals[k]; kv[i] == nil {
				return fmt.Errorf("a change without its key column %s", k)
			}
		}
		ks := keyString(kv)
		e := g.entries[ks]
		if e == nil {
			e = &entry{vals: map[string]any{}, has: map[string]bool{}}
			g.entries[ks] = e
			g.order = append(g.order, ks)
		}
		if row[colDeleted] != nil {
			e.deleted, e.fresh = true, true
			e.vals, e.has = map[string]any{}, map[string]bool{}
			for i, k := range g.keys {
				e.vals[k] = kv[i]
			}
			continue
		}
		e.deleted = false
		for name, v := range vals {
			e.vals[name] = v
			e.has[name] = true
		}
	}
	return nil
}

// fillMissing reads, for keys whose changes did not carry every column,
// the table's current values of those columns.
func (g *group) fillMissing(ctx context.Context) error {
	var need []*entry
	missing := map[string]bool{}
	for _, ks := range g.order {
		e := g.entries[ks]
		if e.deleted || e.fresh {
			continue
		}
		lacks := false
		for _, f := range g.fields {
			if !isMeta(f.Name) && !e.has[f.Name] {
				missing[f.Name], lacks = true, true
			}
		}
		if lacks {
			need = append(need, e)
		}
	}
	if len(need) == 0 {
		return nil
	}
	filter, err := g.keyFilter(need)
	if err != nil {
		return err
	}
	fields := slices.Clone(g.keys)
	for name := range missing {
		fields = append(fields, name)
	}
	_, recs, err := g.r.tbl.Scan(table.WithRowFilter(filter), table.WithSelectedFields(fields...)).ToArrowRecords(ctx)
	if err != nil {
		return fmt.Errorf("read earlier values: %w", err)
	}
	for rec, err := range recs {
		if err != nil {
			return fmt.Errorf("read earlier values: %w", err)
		}
		err = g.fillFrom(rec, missing)
		rec.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// keyFilter matches the rows of the entries' keys: a set predicate on a
// single key column, else one conjunction per key.
func (g *group) keyFilter(es []*entry) (iceberg.BooleanExpression, error) {
	sc := g.r.tbl.Schema()
	if len(g.keys) == 1 {
		f, _ := sc.FindFieldByName(g.keys[0])
		lits := make([]iceberg.Literal, 0, len(es))
		for _, e := range es {
			lit, err := literal(f.Type, e.vals[g.keys[0]])
			if err != nil {
				return nil, err
			}
			lits = append(lits, lit)
		}
		return iceberg.SetPredicate(iceberg.OpIn, iceberg.Reference(g.keys[0]), lits), nil
	}
	var ors []iceberg.BooleanExpression
	for _, e := range es {
		var ands []iceberg.BooleanExpression
		for _, k := range g.keys {
			f, _ := sc.FindFieldByName(k)
			lit, err := literal(f.Type, e.vals[k])
			if err != nil {
				return nil, err
			}
			ands = append(ands, iceberg.LiteralPredicate(iceberg.OpEQ, iceberg.Reference(k), lit))
		}
		ors = append(ors, and(ands))
	}
	if len(ors) == 1 {
		return ors[0], nil
	}
	return iceberg.NewOr(ors[0], ors[1], ors[2:]...), nil
}

func and(es []iceberg.BooleanExpression) iceberg.BooleanExpression {
	if len(es) == 1 {
		return es[0]
	}
	return iceberg.NewAnd(es[0], es[1], es[2:]...)
}

func (g *group) fillFrom(rec arrow.RecordBatch, missing map[string]bool) error {
	idx := map[string]int{}
	for i, f := range rec.Schema().Fields() {
		idx[f.Name] = i
	}
	for row := 0; row < int(rec.NumRows()); row++ {
		kv := make([]any, len(g.keys))
		for i, k := range g.keys {
			v, err := nativeAt(rec.Column(idx[k]), row)
			if err != nil {
				return err
			}
			kv[i] = v
		}
		e := g.entries[keyString(kv)]
		if e == nil || e.deleted || e.fresh {
			continue
		}
		for name := range missing {
			if e.has[name] {
				continue
			}
			v, err := nativeAt(rec.Column(idx[name]), row)
			if err != nil {
				return err
			}
			e.vals[name] = v
		}
	}
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
		keys := func(yield func(arrow.RecordBatch, error) bool) {
			w := newBatchWriter(ksc, iceberg.NewSchema(0, keyFields...))
			defer w.release()
			for _, ks := range g.order {
				if err := w.add(nil, g.entries[ks].vals); err != nil {
					yield(nil, err)
					return
				}
				if w.n >= recordRows && !yield(w.flush(), nil) {
					return
				}
			}
			if w.n > 0 {
				yield(w.flush(), nil)
			}
		}
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
	return func(yield func(arrow.RecordBatch, error) bool) {
		w := newBatchWriter(sc, r.tbl.Schema())
		defer w.release()
		for _, v := range rows {
			if err := w.add(nil, v); err != nil {
				yield(nil, err)
				return
			}
			if w.n >= recordRows && !yield(w.flush(), nil) {
				return
			}
		}
		if w.n > 0 {
			yield(w.flush(), nil)
		}
	}
}
