package materialize_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/pg2s3/pg2s3/shared/materialize/sqlcat"
)

// TestStrategyFigures measures the two ways iceberg-go v0.7.0 can apply
// a batch of upserts by key, on the same table and batches: merge-on-read
// (equality deletes on the key plus the new rows, one RowDelta) and
// copy-on-write (Overwrite with a filter on the keys, which rewrites every
// data file holding one of them). It prints the time per commit and of a
// full scan afterwards; PG2S3_STRATEGY_FIGURES=1 runs it (the README's
// figures come from it).
func TestStrategyFigures(t *testing.T) {
	if os.Getenv("PG2S3_STRATEGY_FIGURES") == "" {
		t.Skip("set PG2S3_STRATEGY_FIGURES=1")
	}
	const rows, files, batches, perBatch = 200_000, 10, 20, 1_000
	ctx := context.Background()
	_, dsn, err := testPG.NewDatabase(ctx, "strategy")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := sqlcat.Open(ctx, dsn, "bench", filepath.Join(t.TempDir(), "wh"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	sc := iceberg.NewSchemaWithIdentifiers(0, []int{1},
		iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.Int64, Required: true},
		iceberg.NestedField{ID: 2, Name: "name", Type: iceberg.PrimitiveTypes.String},
		iceberg.NestedField{ID: 3, Name: "n", Type: iceberg.PrimitiveTypes.Int64})
	if err := cat.CreateNamespace(ctx, catalog.ToIdentifier("b"), nil); err != nil {
		t.Fatal(err)
	}
	for _, strategy := range []string{"merge-on-read", "copy-on-write"} {
		tbl, err := cat.CreateTable(ctx, catalog.ToIdentifier("b", strategy), sc, catalog.WithProperties(iceberg.Properties{"format-version": "2"}))
		if err != nil {
			t.Fatal(err)
		}
		asc, _ := table.SchemaToArrowSchema(tbl.Schema(), nil, true, false)
		batch := func(ids []int64, gen int) arrow.RecordBatch {
			b := array.NewRecordBuilder(memory.DefaultAllocator, asc)
			defer b.Release()
			for _, id := range ids {
				b.Field(0).(*array.Int64Builder).Append(id)
				b.Field(1).(*array.StringBuilder).Append("name " + strconv.FormatInt(id, 10) + " gen " + strconv.Itoa(gen))
				b.Field(2).(*array.Int64Builder).Append(int64(gen))
			}
			return b.NewRecordBatch()
		}
		for f := range files {
			ids := make([]int64, rows/files)
			for i := range ids {
				ids[i] = int64(f*rows/files + i)
			}
			rec := batch(ids, 0)
			rdr, _ := array.NewRecordReader(asc, []arrow.RecordBatch{rec})
			if tbl, err = tbl.Append(ctx, rdr, nil); err != nil {
				t.Fatal(err)
			}
			rdr.Release()
			rec.Release()
		}
		rng := rand.New(rand.NewPCG(1, 2))
		start := time.Now()
		for g := 1; g <= batches; g++ {
			ids := make([]int64, perBatch)
			for i := range ids {
				ids[i] = rng.Int64N(rows)
			}
			ids = uniq(ids)
			tx := tbl.NewTransaction()
			switch strategy {
			case "merge-on-read":
				var dfs []iceberg.DataFile
				for df, err := range table.WriteRecords(ctx, tbl, asc, one(batch(ids, g))) {
					if err != nil {
						t.Fatal(err)
					}
					dfs = append(dfs, df)
				}
				kasc, _ := table.SchemaToArrowSchema(iceberg.NewSchema(0, sc.Field(0)), nil, true, false)
				kb := array.NewRecordBuilder(memory.DefaultAllocator, kasc)
				for _, id := range ids {
					kb.Field(0).(*array.Int64Builder).Append(id)
				}
				dels, err := tx.WriteEqualityDeletes(ctx, []int{1}, one(kb.NewRecordBatch()))
				kb.Release()
				if err != nil {
					t.Fatal(err)
				}
				if err := tx.NewRowDelta(nil).AddRows(dfs...).AddDeletes(dels...).Commit(ctx); err != nil {
					t.Fatal(err)
				}
			case "copy-on-write":
				rec := batch(ids, g)
				rdr, _ := array.NewRecordReader(asc, []arrow.RecordBatch{rec})
				if err := tx.Overwrite(ctx, rdr, nil, table.WithOverwriteFilter(iceberg.IsIn(iceberg.Reference("id"), ids...))); err != nil {
					t.Fatal(err)
				}
				rdr.Release()
				rec.Release()
			}
			if tbl, err = tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
		commit := time.Since(start) / batches
		start = time.Now()
		_, recs, err := tbl.Scan().ToArrowRecords(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for rec, err := range recs {
			if err != nil {
				t.Fatal(err)
			}
			n += rec.NumRows()
			rec.Release()
		}
		scan := time.Since(start)
		if n != rows {
			t.Fatalf("%s: %d rows, want %d", strategy, n, rows)
		}
		sum := tbl.CurrentSnapshot().Summary.Properties
		t.Logf("%s: %d rows in %d files, %d commits of %d upserts: %v per commit; full scan %v; data files %s, delete files %s, total size %s bytes",
			strategy, rows, files, batches, perBatch, commit.Round(time.Millisecond), scan.Round(time.Millisecond),
			sum["total-data-files"], sum["total-delete-files"], sum["total-files-size"])
	}
}

func one(rec arrow.RecordBatch) func(func(arrow.RecordBatch, error) bool) {
	return func(yield func(arrow.RecordBatch, error) bool) { yield(rec, nil) }
}

func uniq(ids []int64) []int64 {
	seen := map[int64]bool{}
	out := ids[:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
