package tables

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
)

// ErrStale says the catalog no longer matches the database (a table or
// column was dropped or renamed); discover must run again.
var ErrStale = errors.New("catalog is stale")

// Resolve checks a selection against the LIVE table and builds the typed
// stream a run replicates: its columns with their current types (in table
// order), the live primary key, the method and replication key, and the
// JSON Schema of the selected columns as they are now. The sync engine
// calls it at the start of every run, so type changes are picked up and
// dropped tables or columns fail clearly (errors wrap ErrStale).
//
// For tables, KeyColumns is the live primary key even when the catalog's
// table-key-properties differ, and key columns are always replicated. For
// views, KeyColumns is the selection's view-key-properties. For an
// INCREMENTAL stream it notes whether an index leads with the
// replication key.
func (src *Source) Resolve(ctx context.Context, sel catalog.Selection) (record.Stream, error) {
	st, err := src.resolve(ctx, sel)
	if err != nil || st.Method != layout.Incremental || st.IsView {
		return st, err
	}
	err = src.conn.QueryRow(ctx, `SELECT EXISTS (
		SELECT 1 FROM pg_index i
		JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
		WHERE n.nspname = $1 AND c.relname = $2 AND a.attname = $3 AND i.indisvalid AND i.indpred IS NULL)`,
		st.Schema, st.Table, st.ReplicationKey).Scan(&st.ReplicationKeyIndexed)
	if err != nil {
		return st, fmt.Errorf("resolve %s: read indexes: %w", st.ID, err)
	}
	return st, nil
}

// Refresh resolves st again against the live table, as Resolve would
// its selection: the same columns (a selected column dropped since is
// ErrStale), their types now, and the columns added since st was
// resolved, which are new (NewColumns) and replicated when the table
// selects new columns. A drain calls it when a change carries a column
// the stream does not know.
func (src *Source) Refresh(ctx context.Context, st *record.Stream) (record.Stream, error) {
	sel := catalog.Selection{
		StreamID: st.ID, Schema: st.Schema, Table: st.Table, IsView: st.IsView,
		Method: st.Method, ReplicationKey: st.ReplicationKey, KeyColumns: st.KeyColumns,
		Columns: st.ColumnNames(), Known: st.Skipped, SelectNewColumns: st.SelectNewColumns,
	}
	ns, err := src.Resolve(ctx, sel)
	if err != nil {
		return ns, err
	}
	ns.RowEstimate = st.RowEstimate
	ns.NewColumns = append(slices.Clone(st.NewColumns), ns.NewColumns...)
	return ns, nil
}

// DiscoverTable discovers one table or view, as Discover would: a
// run that replicated columns the stored catalog does not list records
// them from it (catalog.Stream.AddColumns).
func (src *Source) DiscoverTable(ctx context.Context, streamID, schema, table string) (*catalog.Stream, error) {
	_, t, err := src.describe(ctx, streamID, schema, table)
	if err != nil {
		return nil, err
	}
	return catalog.NewStream(t), nil
}

// describe reads one readable table or view and its columns; a table
// that is gone wraps ErrStale.
func (src *Source) describe(ctx context.Context, streamID, schema, table string) (relation, catalog.Table, error) {
	name := pgx.Identifier{schema, table}.Sanitize()
	rels, err := readRelations(ctx, src.conn, []string{schema}, &table)
	if err != nil {
		return relation{}, catalog.Table{}, fmt.Errorf("resolve %s: %w", name, err)
	}
	if len(rels) == 0 {
		return relation{}, catalog.Table{}, fmt.Errorf("resolve stream %s: table or view %s no longer exists: run pg2s3 discover again and update the selection: %w", streamID, name, ErrStale)
	}
	if !rels[0].Readable {
		return relation{}, catalog.Table{}, fmt.Errorf("resolve stream %s: permission denied on %s: GRANT USAGE ON SCHEMA %s and GRANT SELECT ON %s to the user",
			streamID, name, pgx.Identifier{schema}.Sanitize(), name)
	}
	tables, err := readTables(ctx, src.conn, src.settings.Database, rels[:1])
	if err != nil {
		return relation{}, catalog.Table{}, fmt.Errorf("resolve %s: %w", name, err)
	}
	return rels[0], tables[0], nil
}

// resolve is Resolve without the look at the indexes.
func (src *Source) resolve(ctx context.Context, sel catalog.Selection) (record.Stream, error) {
	name := pgx.Identifier{sel.Schema, sel.Table}.Sanitize()
	rel, t, err := src.describe(ctx, sel.StreamID, sel.Schema, sel.Table)
	if err != nil {
		return record.Stream{}, err
	}
	isView := rel.Kind == catalog.KindView || rel.Kind == catalog.KindMatView
	st := record.Stream{
		ID: sel.StreamID, Schema: sel.Schema, Table: sel.Table, IsView: isView,
		Method: sel.Method, ReplicationKey: sel.ReplicationKey, RowEstimate: rel.RowCount,
	}
	if isView && sel.Method == layout.LogBased {
		return st, fmt.Errorf("resolve stream %s: %s is a view: views cannot be LOG_BASED, use FULL_TABLE or INCREMENTAL", sel.StreamID, name)
	}
	live := map[string]catalog.ColumnInfo{}
	for _, c := range t.Columns {
		live[c.Name] = c
	}
	want := map[string]bool{}
	for _, c := range sel.Columns {
		if _, ok := live[c]; !ok {
			return st, fmt.Errorf("resolve stream %s: selected column %q of %s no longer exists: run pg2s3 discover again and update the selection: %w", sel.StreamID, c, name, ErrStale)
		}
		want[c] = true
	}
	st.KeyColumns = t.KeyColumns
	if isView {
		st.KeyColumns = sel.KeyColumns
	}
	for _, k := range st.KeyColumns {
		if _, ok := live[k]; !ok {
			return st, fmt.Errorf("resolve stream %s: key column %q of %s does not exist: fix view-key-properties: %w", sel.StreamID, k, name, ErrStale)
		}
		want[k] = true
	}
	if sel.Method == layout.Incremental {
		c, ok := live[sel.ReplicationKey]
		switch {
		case sel.ReplicationKey == "":
			return st, fmt.Errorf("resolve stream %s: INCREMENTAL needs a replication-key", sel.StreamID)
		case !ok:
			return st, fmt.Errorf("resolve stream %s: replication key %q is not a column of %s: %w", sel.StreamID, sel.ReplicationKey, name, ErrStale)
		case !catalog.MapColumn(c).Orderable:
			return st, fmt.Errorf("resolve stream %s: replication key %q of %s has type %s, which cannot be ordered: choose a timestamp, number or text column",
				sel.StreamID, sel.ReplicationKey, name, c.SQLType)
		}
		want[sel.ReplicationKey] = true
	}
	known := map[string]bool{}
	for _, c := range slices.Concat(sel.Known, sel.Columns, st.KeyColumns) {
		known[c] = true
	}
	st.SelectNewColumns = sel.SelectNewColumns
	var cols []catalog.ColumnInfo
	for _, c := range t.Columns {
		m := catalog.MapColumn(c)
		if !want[c.Name] && !known[c.Name] {
			// Added after discovery: replicated from its first change
			// when the table selects new columns and pg2s3 can encode it.
			st.NewColumns = append(st.NewColumns, c.Name)
			want[c.Name] = sel.SelectNewColumns && m.Supported
		}
		if !want[c.Name] {
			st.Skipped = append(st.Skipped, c.Name)
			continue
		}
		if !m.Supported {
			return st, fmt.Errorf("resolve stream %s: column %q of %s now has type %s, which pg2s3 cannot replicate: deselect it and run discover again",
				sel.StreamID, c.Name, name, c.SQLType)
		}
		cols = append(cols, c)
		st.Columns = append(st.Columns, record.Column{Name: c.Name, SQLType: c.SQLType, Kind: m.Kind, Dims: m.Dims})
	}
	st.JSONSchema = catalog.SchemaFor(cols)
	return st, nil
}
