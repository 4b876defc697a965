package materialize

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/warehouse"
)

// Metadata columns of a materialized table, after the stream's columns:
// where each row's newest change came from. Keyless tables also keep
// _sdc_deleted_at (every change is a row of its own there).
const (
	colVersion   = "_sdc_table_version"
	colLSN       = "_sdc_lsn"
	colSequence  = "_sdc_sequence"
	colExtracted = "_sdc_extracted_at"
	colDeleted   = "_sdc_deleted_at"
)

// icebergType is a column's Iceberg type from the one type table
// (shared/warehouse): exact decimals, instants as timestamptz in
// microseconds, JSON as its text.
func icebergType(t warehouse.Type) iceberg.Type {
	switch t.Logical {
	case warehouse.Int64:
		return iceberg.PrimitiveTypes.Int64
	case warehouse.Double:
		return iceberg.PrimitiveTypes.Float64
	case warehouse.Decimal:
		return iceberg.DecimalTypeOf(t.Precision, t.Scale)
	case warehouse.Bool:
		return iceberg.PrimitiveTypes.Bool
	case warehouse.Timestamp:
		return iceberg.PrimitiveTypes.TimestampTz
	}
	return iceberg.PrimitiveTypes.String
}

// column is one column the materialized table should have.
type column struct {
	name     string
	typ      iceberg.Type
	required bool
}

// wantColumns returns the columns of s's materialized table: its
// selected columns (key columns required), then the metadata columns.
func wantColumns(s *record.Stream) []column {
	var out []column
	for _, c := range s.Columns {
		out = append(out, column{name: c.Name, typ: icebergType(warehouse.Of(c)), required: slices.Contains(s.KeyColumns, c.Name)})
	}
	out = append(out,
		column{name: colVersion, typ: iceberg.PrimitiveTypes.Int64},
		column{name: colLSN, typ: iceberg.PrimitiveTypes.Int64},
		column{name: colSequence, typ: iceberg.PrimitiveTypes.Int64},
		column{name: colExtracted, typ: iceberg.PrimitiveTypes.TimestampTz})
	if len(s.KeyColumns) == 0 {
		out = append(out, column{name: colDeleted, typ: iceberg.PrimitiveTypes.TimestampTz})
	}
	return out
}

// isMeta says a column is one of the materializer's metadata columns.
func isMeta(name string) bool {
	switch name {
	case colVersion, colLSN, colSequence, colExtracted, colDeleted:
		return true
	}
	return false
}

// openTable loads the stream's table, creating it (and its namespace)
// when absent, and adds the columns the stream has that it lacks. Field
// IDs are the table's: a column keeps its ID for good, an added column
// gets a new one, a column the stream no longer has stays in the table.
func openTable(ctx context.Context, cat catalog.Catalog, ident table.Identifier, s *record.Stream) (*table.Table, error) {
	want := wantColumns(s)
	tbl, err := cat.LoadTable(ctx, ident)
	if errors.Is(err, catalog.ErrNoSuchTable) {
		return createTable(ctx, cat, ident, s, want)
	}
	if err != nil {
		return nil, fmt.Errorf("load table %v: %w", ident, err)
	}
	sc := tbl.Schema()
	var add []column
	for _, c := range want {
		f, ok := sc.FindFieldByName(c.name)
		if !ok {
			add = append(add, c)
			continue
		}
		if !f.Type.Equals(c.typ) {
			return nil, fmt.Errorf("column %s of %v is %s in the table and %s in the stream: a type change needs a new table (drop it, delete the materializer's bookmark and run again)", c.name, ident, f.Type, c.typ)
		}
	}
	if len(add) == 0 {
		return tbl, nil
	}
	tx := tbl.NewTransaction()
	up := tx.UpdateSchema(true, false)
	for _, c := range add {
		up = up.AddColumn([]string{c.name}, c.typ, "", false, nil)
	}
	if err := up.Commit(); err != nil {
		return nil, fmt.Errorf("add columns to %v: %w", ident, err)
	}
	if tbl, err = tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("add columns to %v: %w", ident, err)
	}
	return tbl, nil
}

func createTable(ctx context.Context, cat catalog.Catalog, ident table.Identifier, s *record.Stream, want []column) (*table.Table, error) {
	// Created only when missing: the stack creates the Glue database and
	// gives the function no right to create one.
	ns := catalog.NamespaceFromIdent(ident)
	exists, err := cat.CheckNamespaceExists(ctx, ns)
	if err != nil {
		return nil, fmt.Errorf("namespace %v: %w", ns, err)
	}
	if !exists {
		if err := cat.CreateNamespace(ctx, ns, nil); err != nil && !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
			return nil, fmt.Errorf("create namespace %v: %w", ns, err)
		}
	}
	fields := make([]iceberg.NestedField, len(want))
	var keyIDs []int
	for i, c := range want {
		fields[i] = iceberg.NestedField{ID: i + 1, Name: c.name, Type: c.typ, Required: c.required}
		if slices.Contains(s.KeyColumns, c.name) {
			keyIDs = append(keyIDs, i+1)
		}
	}
	sc := iceberg.NewSchemaWithIdentifiers(0, keyIDs, fields...)
	tbl, err := cat.CreateTable(ctx, ident, sc, catalog.WithProperties(iceberg.Properties{
		"format-version":    "2",
		propStream:          s.ID,
		"write.update.mode": "merge-on-read",
		"write.delete.mode": "merge-on-read",
	}))
	if err != nil {
		return nil, fmt.Errorf("create table %v: %w", ident, err)
	}
	return tbl, nil
}

// keyFieldIDs returns the table's field IDs of s's key columns.
func keyFieldIDs(sc *iceberg.Schema, s *record.Stream) ([]int, error) {
	var ids []int
	for _, k := range s.KeyColumns {
		f, ok := sc.FindFieldByName(k)
		if !ok {
			return nil, fmt.Errorf("key column %s is not in the table", k)
		}
		switch f.Type.(type) {
		case iceberg.Float32Type, iceberg.Float64Type:
			return nil, fmt.Errorf("key column %s is a float: Iceberg equality deletes cannot use it", k)
		}
		ids = append(ids, f.ID)
	}
	return ids, nil
}
