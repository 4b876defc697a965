package bench

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// BenchmarkParquet: case 8, case 1's full-table extract with sink format
// parquet against the same extract to gzip JSONL (best of BENCH_REPEAT each,
// alternating), the objects' sizes, and the peak RSS of the Parquet copy
// in a child process.
func BenchmarkParquet(b *testing.B) {
	e, ctx := shared(b)
	must(b, ensureMixed(ctx, e))
	b.ResetTimer()
	size := map[string]int64{}
	extract := func(format string) func(i int) (Throughput, error) {
		return func(i int) (Throughput, error) {
			p, err := e.formatPipeline(ctx, fmt.Sprintf("pq_%s_%d", format, i), format)
			if err != nil {
				return Throughput{}, err
			}
			t, err := Sync(ctx, p)
			if err == nil {
				size[format], err = dataBytes(filepath.Join(p.Dir, "out"))
			}
			return t, err
		}
	}
	ours, ref, err := bestOf(extract("parquet"), extract("jsonl"))
	must(b, err)
	publish(b, Throughputs("8 full-table extract to Parquet", ours, ref, "pg2s3 to gzip JSONL", Target{}))
	publish(b, Result{Case: "8 Parquet objects vs gzip JSONL", Unit: "MB", Ours: mb(size["parquet"]), Reference: mb(size["jsonl"]), RefName: "gzip JSONL"})
	p, err := e.formatPipeline(ctx, "pq_mem", "parquet")
	must(b, err)
	rss, err := e.RunCLI(ctx, p, "tables")
	must(b, err)
	publish(b, Result{Case: "8 peak RSS, Parquet copy at 1x", Unit: "MB", Ours: rss.MB(), Target: Target{MaxValue: 150},
		Note: fmt.Sprintf("child process, %d rows in %.1fs", rss.Rows, rss.Dur.Seconds())})
}

// ensureMixed creates case 1's table unless BenchmarkTables did.
func ensureMixed(ctx context.Context, e *Env) error {
	conn, err := pgx.Connect(ctx, e.DSN)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('mixed') IS NOT NULL").Scan(&exists); err != nil || exists {
		return err
	}
	return CreateMixed(ctx, e.DSN, "mixed", e.Rows)
}

// formatPipeline is a FULL_TABLE pipeline over case 1's table writing
// format.
func (e *Env) formatPipeline(ctx context.Context, name, format string) (*Pipeline, error) {
	sink := map[string]any{"type": "local", "path": filepath.Join(e.Dir, name, "out"), "format": format}
	return e.NewPipeline(ctx, name, map[string]any{"sink": sink}, Selection{"mixed": "FULL_TABLE"})
}

// dataBytes adds up the sizes of the data objects under dir.
func dataBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".parquet") || strings.HasSuffix(path, ".jsonl.gz")) {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	return n, err
}
