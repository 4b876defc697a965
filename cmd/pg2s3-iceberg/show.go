package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icetable "github.com/apache/iceberg-go/table"

	"github.com/pg2s3/pg2s3/cmd/internal/cli"
)

func init() {
	prog.Register("show", "print the rows of an Iceberg table by an integer key, read through iceberg-go's scan", runShow)
}

// showHelp is a format: %[1]s is the program's name.
const showHelp = `usage: %[1]s show --warehouse DIR|s3://bucket/prefix --catalog-dsn postgres://... [--columns a,b,...] [--key id] [--max-key N] <namespace>.<table>

Prints the rows of a table in the SQL catalog (one pg2s3 materialize
keeps, for instance) as they are now, read through iceberg-go's scan
with equality deletes applied: a header of column names, then one
aligned line per row, sorted by the integer column --key; NULL stands
for a null value. pg2s3 demo reads back the orders it materialized
with it.

flags:
`

func runShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := prog.NewFlags("show", stderr)
	iceFlags := addCatalogFlags(fs)
	columnList := fs.String("columns", "", "the columns to print, comma-separated, in this order (default: every column of the table)")
	key := fs.String("key", "id", "the integer column the rows are sorted by and --max-key compares")
	maxKey := fs.Int64("max-key", 0, "print only the rows whose --key is at most this (default: every row)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), showHelp, prog.Name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("give one table, <namespace>.<table>: %w", cli.ErrUsage)
	}
	if err := iceFlags.check(); err != nil {
		return err
	}
	ident := catalog.ToIdentifier(fs.Arg(0))
	ice, err := iceFlags.open(ctx)
	if err != nil {
		return err
	}
	defer ice.Close()
	tbl, err := ice.LoadTable(ctx, ident)
	if err != nil {
		return err
	}
	var columns []string
	if *columnList != "" {
		columns = strings.Split(*columnList, ",")
	} else {
		for _, f := range tbl.Schema().Fields() {
			columns = append(columns, f.Name)
		}
	}
	selected := columns
	if !slices.Contains(columns, *key) {
		selected = append(slices.Clone(columns), *key)
	}
	opts := []icetable.ScanOption{icetable.WithSelectedFields(selected...)}
	maxKeySet := false
	fs.Visit(func(f *flag.Flag) { maxKeySet = maxKeySet || f.Name == "max-key" })
	if maxKeySet {
		opts = append(opts, icetable.WithRowFilter(iceberg.LessThanEqual(iceberg.Reference(*key), *maxKey)))
	}
	scan := tbl.Scan(opts...)
	defer scan.Close()
	_, recs, err := scan.ToArrowRecords(ctx)
	if err != nil {
		return err
	}
	type row struct {
		key  int64
		vals []string
	}
	var rows []row
	for rec, err := range recs {
		if err != nil {
			return err
		}
		idx, err := columnIndices(rec.Schema(), append([]string{*key}, columns...))
		if err != nil {
			rec.Release()
			return fmt.Errorf("%v: %w", ident, err)
		}
		keyCol := rec.Column(idx[0])
		for r := 0; r < int(rec.NumRows()); r++ {
			k, ok := intValue(keyCol, r)
			if !ok {
				rec.Release()
				return fmt.Errorf("%v: --key %s is %s, not an integer", ident, *key, keyCol.DataType())
			}
			vals := make([]string, len(columns))
			for i, c := range idx[1:] {
				if col := rec.Column(c); col.IsNull(r) {
					vals[i] = "NULL"
				} else {
					vals[i] = col.ValueStr(r)
				}
			}
			rows = append(rows, row{k, vals})
		}
		rec.Release()
	}
	slices.SortFunc(rows, func(a, b row) int { return cmp.Compare(a.key, b.key) })
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(columns, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r.vals, "\t"))
	}
	return tw.Flush()
}

// columnIndices finds each of names in a scan's schema.
func columnIndices(schema *arrow.Schema, names []string) ([]int, error) {
	idx := make([]int, len(names))
	for i, name := range names {
		got := schema.FieldIndices(name)
		if len(got) != 1 {
			return nil, fmt.Errorf("no column %s", name)
		}
		idx[i] = got[0]
	}
	return idx, nil
}

// intValue is row r of an integer column (Iceberg's int or long).
func intValue(col arrow.Array, r int) (int64, bool) {
	switch c := col.(type) {
	case *array.Int64:
		return c.Value(r), true
	case *array.Int32:
		return int64(c.Value(r)), true
	}
	return 0, false
}
