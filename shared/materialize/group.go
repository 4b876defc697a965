package materialize

import (
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

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
