// Package mattest reads materialized Iceberg tables back for the tests
// that compare them with their source tables (shared/materialize's and the
// materialize function's).
package mattest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
)

// Rows scans table ident with iceberg-go: id -> column -> the value as
// PostgreSQL prints it (numbers with every digit, instants in RFC 3339 UTC
// with microseconds, JSON as its text; floats as float64), nil for null;
// the _sdc_ columns left out. A key met twice is an error.
func Rows(ctx context.Context, cat catalog.Catalog, ident table.Identifier) (map[string]map[string]any, error) {
	return RowsBy(ctx, cat, ident, "id")
}

// RowsBy is Rows keyed by the values of columns key, joined with "|".
func RowsBy(ctx context.Context, cat catalog.Catalog, ident table.Identifier, key ...string) (map[string]map[string]any, error) {
	tbl, err := cat.LoadTable(ctx, ident)
	if err != nil {
		return nil, err
	}
	_, recs, err := tbl.Scan().ToArrowRecords(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]any{}
	for rec, err := range recs {
		if err != nil {
			return nil, err
		}
		for i := range int(rec.NumRows()) {
			row := map[string]any{}
			for c, f := range rec.Schema().Fields() {
				if !strings.HasPrefix(f.Name, "_sdc_") {
					row[f.Name] = Text(rec.Column(c), i)
				}
			}
			parts := make([]string, len(key))
			for k, col := range key {
				parts[k] = fmt.Sprint(row[col])
			}
			id := strings.Join(parts, "|")
			if _, dup := out[id]; dup {
				rec.Release()
				return nil, fmt.Errorf("%v: key %s twice in the table", ident, id)
			}
			out[id] = row
		}
		rec.Release()
	}
	return out, nil
}

// Text is row i of a as Rows gives it.
func Text(a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	switch a := a.(type) {
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10)
	case *array.Float64:
		return a.Value(i)
	case *array.Decimal128:
		return a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.Boolean:
		return strconv.FormatBool(a.Value(i))
	case *array.Timestamp:
		return time.UnixMicro(int64(a.Value(i))).UTC().Format("2006-01-02T15:04:05.000000Z")
	case *array.String:
		return a.Value(i)
	}
	return fmt.Sprintf("unexpected %s", a.DataType())
}
