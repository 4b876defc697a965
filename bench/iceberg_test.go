package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/jackc/pgx/v5"

	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/replicate"
)

// BenchmarkIceberg: case 11. The WAL workload of case 3 (BENCH_ROWS×0.4
// changes) drained once in twenty slot batches, then materialized into
// an Iceberg table, a commit per slot batch: changes/s applied against the drain's, and what a reader of the
// current table reads, a full scan of the Iceberg table (data and delete
// files as iceberg-go plans them) against the _current view (every
// stored change of the active version).
func BenchmarkIceberg(b *testing.B) {
	e, ctx := shared(b)
	n := int64(e.Rows) * 2 / 5
	Results.Param("iceberg_changes", n)
	// Twenty slot batches, so twenty merge-on-read commits: a deployed
	// pipeline materializes after each drain.
	batch := max(n/20, 1000)
	Results.Param("iceberg_batch_rows", batch)
	w, p, err := e.NewIcebergSetup(ctx, "icemix", batch)
	must(b, err)
	must(b, e.Workload(ctx, w, n, []int{1, 2, 5, 20, 100, 500, 2000, 10000}))
	b.ResetTimer()
	drain, err := Drain(ctx, p)
	must(b, err)
	if drain.Rows != w.Changes {
		b.Fatalf("the drain read %d changes, the workload made %d", drain.Rows, w.Changes)
	}
	mat, err := e.Materialize(ctx, p, w.Table, int(batch))
	must(b, err)
	b.StopTimer()
	if mat.Rows != w.Changes {
		b.Fatalf("materialized %d changes, the workload made %d", mat.Rows, w.Changes)
	}
	conn, err := pgx.Connect(ctx, e.DSN)
	must(b, err)
	var live int64
	err = conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{w.Table}.Sanitize()).Scan(&live)
	conn.Close(ctx)
	must(b, err)
	if mat.Live != live {
		b.Fatalf("the Iceberg table holds %d rows, the source table %d", mat.Live, live)
	}
	id := p.StreamID(w.Table)
	bm, err := p.App.Stores.Bookmarks.Get(ctx, id)
	must(b, err)
	cur, err := CurrentViewCost(ctx, p.App.Stores.Sink, id, bm.State.Version)
	must(b, err)
	if cur.Rows != w.Changes {
		b.Fatalf("the active version stores %d rows, the workload made %d changes", cur.Rows, w.Changes)
	}
	r := Throughputs("11 materialize into Iceberg vs WAL drain", mat.Throughput, drain, "WAL drain (pgoutput)", Target{})
	r.Unit = "changes/s"
	r.Note += fmt.Sprintf("; %d Iceberg commits (at most %d changes each, whole slot batches)", mat.Result.Commits, batch)
	publish(b, r)
	note := fmt.Sprintf("%d live rows; Iceberg: %d data files (%d rows), %d equality/position delete files (%d rows, %.2f MB); _current: %d objects",
		live, mat.Scan.Files-mat.Scan.DeleteFiles, mat.Scan.Rows-mat.Scan.DeleteRows, mat.Scan.DeleteFiles, mat.Scan.DeleteRows,
		mb(mat.Scan.DeleteBytes), cur.Files)
	publish(b, Result{Case: "11 read cost: Iceberg full scan vs _current view, rows", Unit: "rows", Ours: float64(mat.Scan.Rows),
		Reference: float64(cur.Rows), RefName: "_current view", Note: note})
	publish(b, Result{Case: "11 read cost: Iceberg full scan vs _current view, bytes", Unit: "MB", Ours: mb(mat.Scan.Bytes),
		Reference: mb(cur.Bytes), RefName: "_current view", Note: "stored sizes: Parquet data and delete files vs gzip JSONL objects"})
}

// TestIcebergScanCost: data files count once per task, delete files once
// however many tasks they apply to.
func TestIcebergScanCost(t *testing.T) {
	file := func(content iceberg.ManifestEntryContent, path string, rows, size int64) iceberg.DataFile {
		b, err := iceberg.NewDataFileBuilder(*iceberg.UnpartitionedSpec, content, path, iceberg.ParquetFile, nil, nil, nil, rows, size)
		if err != nil {
			t.Fatal(err)
		}
		return b.Build()
	}
	eq := file(iceberg.EntryContentEqDeletes, "eq-1.parquet", 7, 70)
	pos := file(iceberg.EntryContentPosDeletes, "pos-1.parquet", 2, 20)
	tasks := []table.FileScanTask{
		{File: file(iceberg.EntryContentData, "d-1.parquet", 100, 1000), EqualityDeleteFiles: []iceberg.DataFile{eq}},
		{File: file(iceberg.EntryContentData, "d-2.parquet", 50, 500), EqualityDeleteFiles: []iceberg.DataFile{eq}, DeleteFiles: []iceberg.DataFile{pos}},
	}
	got := IcebergScanCost(tasks)
	want := ReadCost{Rows: 159, Bytes: 1590, Files: 4, DeleteRows: 9, DeleteBytes: 90, DeleteFiles: 2}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// TestCurrentViewCost: the version's copy batches and its log objects
// count; another version's and another stream's objects in the same slot
// manifests do not.
func TestCurrentViewCost(t *testing.T) {
	st := memStore{}
	put := func(key string, m replicate.Manifest) {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		st[key] = b
	}
	obj := func(key string, rows, bytes int64, stream string, version int64) replicate.ManifestObject {
		return replicate.ManifestObject{ObjectInfo: record.ObjectInfo{Key: key, Bytes: bytes}, Rows: rows, Stream: stream, TableVersion: version}
	}
	const s = "db-public-t"
	put(layout.CopyManifestKey(s, 5, 0), replicate.Manifest{Objects: []replicate.ManifestObject{obj("a", 10, 100, "", 0)}})
	put(layout.CopyManifestKey(s, 5, 1), replicate.Manifest{Objects: []replicate.ManifestObject{obj("b", 3, 30, "", 0)}})
	put(layout.CopyManifestKey(s, 4, 0), replicate.Manifest{Objects: []replicate.ManifestObject{obj("old", 1000, 1, "", 0)}})
	put(layout.SlotManifestKey("slot", 1), replicate.Manifest{Objects: []replicate.ManifestObject{
		obj("w1", 4, 40, s, 5), obj("w-old", 1000, 1, s, 4), obj("w-other", 1000, 1, "db-public-u", 5)}})
	put(layout.SlotManifestKey("slot", 2), replicate.Manifest{Objects: []replicate.ManifestObject{obj("w2", 2, 20, s, 5)}})
	got, err := CurrentViewCost(context.Background(), st, s, 5)
	if err != nil {
		t.Fatal(err)
	}
	if want := (ReadCost{Rows: 19, Bytes: 190, Files: 4}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// memStore is a sink's keys in memory, listed in lexical order.
type memStore map[string][]byte

func (m memStore) List(_ context.Context, prefix string) ([]string, error) {
	var out []string
	for k := range m {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (m memStore) Get(_ context.Context, key string) ([]byte, error) {
	b, ok := m[key]
	if !ok {
		return nil, fmt.Errorf("%s: not found", key)
	}
	return b, nil
}
