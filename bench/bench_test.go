package bench

import (
	"context"
	"flag"
	"fmt"
	"github.com/jackc/pgx/v5"
	"os"
	"runtime"
	"testing"
	"time"
)

// TestMain starts nothing unless benchmarks run: `go test ./...` stays
// fast. After the benchmarks it prints the table and saves it as JSON.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		os.Exit(m.Run())
	}
	code := m.Run()
	if env != nil {
		Results.Machine = MachineFacts(context.Background(), env.DSN)
		env.Stop()
	}
	if len(Results.Results) > 0 {
		fmt.Println()
		Results.Print(os.Stdout)
		if path, err := Results.Save("results"); err != nil {
			fmt.Fprintln(os.Stderr, "save results:", err)
			code = 1
		} else {
			fmt.Println("\nsaved", path, "and results/latest.json")
		}
	}
	os.Exit(code)
}

func shared(b *testing.B) (*Env, context.Context) {
	b.Helper()
	e, err := Shared()
	if err != nil {
		b.Fatal(err)
	}
	Results.Param("bench_rows", e.Rows)
	Results.Param("repeats_best_of", Repeats())
	return e, b.Context()
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

func publish(b *testing.B, r Result) {
	r = Results.Add(r)
	b.Logf("%s: %s %.4g (ref %.4g) ratio %.2f %s", r.Case, r.Unit, r.Ours, r.Reference, r.Ratio, r.Met)
}

func mb(rss int64) float64 { return float64(rss) / (1 << 20) }

// BenchmarkTables: cases 1 (full table), 6 (scaling), 2 (incremental) and
// the case-1 part of 5 (memory at 1/4 and full size).
func BenchmarkTables(b *testing.B) {
	e, ctx := shared(b)
	n := e.Rows
	must(b, CreateMixed(ctx, e.DSN, "mixed", n))
	must(b, CopySubset(ctx, e.DSN, "mixed_q", "mixed", n/4))
	must(b, CopySubset(ctx, e.DSN, "mixed_h", "mixed", n/2))
	b.ResetTimer()
	var full, quarter Throughput
	for _, sz := range []struct {
		table, label string
		out          *Throughput
	}{{"mixed_q", "0.25x", &quarter}, {"mixed_h", "0.5x", nil}, {"mixed", "1x", &full}} {
		ours, ref, err := e.FullTable(ctx, sz.table)
		must(b, err)
		if sz.out != nil {
			*sz.out = ours
		}
		name, target := "6 full table "+sz.label, Target{}
		if sz.label == "1x" {
			name, target = "1 full-table extract", Target{MinRatio: 0.8}
		}
		publish(b, Throughputs(name, ours, ref, "COPY binary", target))
	}
	publish(b, CostResult("full-table", full.Usage(), ListPrices))
	publish(b, Result{Case: "6 scaling 1x vs 0.25x", Unit: "rows/s", Ours: full.PerSec(), Reference: quarter.PerSec(), RefName: "pg2s3 at 0.25x",
		Target: Target{MinRatio: 0.9}})

	conn, err := pgx.Connect(ctx, e.DSN)
	must(b, err)
	_, err = conn.Exec(ctx, "ANALYZE mixed")
	conn.Close(ctx)
	must(b, err)
	two, one, err := e.ParallelCopy(ctx, "mixed", int64(n), 2)
	must(b, err)
	// No target: on one machine the server shares the cores with the
	// workers; the figure says what a second worker adds here.
	publish(b, Throughputs("9 parallel copy: --parallel 2 vs 1", two, one, "--parallel 1", Target{}))

	ours, ref, err := e.Incremental(ctx, "mixed")
	must(b, err)
	publish(b, Throughputs("2 key-based incremental", ours, ref, "COPY binary", Target{MinRatio: 0.8}))
	publish(b, CostResult("key-based incremental", ours.Usage(), ListPrices))

	var rss [2]ChildRun
	for i, table := range []string{"mixed_q", "mixed"} {
		p, err := e.NewPipeline(ctx, "mem_"+table, nil, Selection{table: "FULL_TABLE"})
		must(b, err)
		rss[i], err = e.RunCLI(ctx, p, "tables")
		must(b, err)
	}
	publish(b, Result{Case: "5 peak RSS, case 1 at 0.25x", Unit: "MB", Ours: rss[0].MB(), Target: Target{MaxValue: 150}})
	publish(b, Result{Case: "5 peak RSS, case 1 at 1x", Unit: "MB", Ours: rss[1].MB(), Target: Target{MaxValue: 150},
		Note: fmt.Sprintf("child process, %d rows in %.1fs", rss[1].Rows, rss[1].Dur.Seconds())})
	publish(b, Result{Case: "5 peak RSS flat: 1x vs 0.25x", Unit: "MB", Ours: rss[1].MB(), Reference: rss[0].MB(), RefName: "pg2s3 at 0.25x",
		Target: Target{MaxRatio: 1.25}})
}

// BenchmarkWAL: case 3 with both decoders, and its part of case 5.
func BenchmarkWAL(b *testing.B) {
	e, ctx := shared(b)
	n := int64(e.Rows) * 2 / 5
	Results.Param("wal_changes", n)
	w, err := e.NewWALSetup(ctx, "walmix", map[string]Decoder{"wal_pgoutput": Pgoutput, "wal_wal2json": Wal2json, "wal_mem": Pgoutput},
		[]Decoder{Pgoutput, Wal2json})
	must(b, err)
	must(b, e.Workload(ctx, w, n, []int{1, 2, 5, 20, 100, 500, 2000, 10000}))
	b.ResetTimer()
	for _, dec := range []Decoder{Pgoutput, Wal2json} {
		cpu := processCPU()
		ours, err := Drain(ctx, w.Pipelines["wal_"+dec.Plugin])
		cpu = processCPU() - cpu
		must(b, err)
		if ours.Rows != w.Changes {
			b.Fatalf("%s: pg2s3 read %d changes, the workload made %d", dec.Plugin, ours.Rows, w.Changes)
		}
		ref, err := e.RecvLogical(ctx, w, dec)
		must(b, err)
		r := Throughputs("3 WAL drain "+dec.Plugin, ours, ref, "pg_recvlogical", Target{MinRatio: 1.0})
		// The drain's CPU time varies less than its wall time on a shared
		// host, where the server and pg2s3 share the cores.
		r.Note += fmt.Sprintf("; pg2s3 CPU %.1fs, %.1f µs/change", cpu.Seconds(), float64(cpu.Microseconds())/float64(max(ours.Rows, 1)))
		publish(b, r)
		publish(b, CostResult("log-based ("+dec.Plugin+")", ours.Usage(), ListPrices))
	}
	run, err := e.RunCLI(ctx, w.Pipelines["wal_mem"], "wal")
	must(b, err)
	publish(b, Result{Case: "5 peak RSS, case 3 (pgoutput)", Unit: "MB", Ours: run.MB(), Target: Target{MaxValue: 200},
		Note: fmt.Sprintf("child process, %d changes in %.1fs", run.Rows, run.Dur.Seconds())})
}

// BenchmarkLargeTransaction: case 4, one transaction of BENCH_ROWS inserts.
func BenchmarkLargeTransaction(b *testing.B) {
	e, ctx := shared(b)
	n := int64(e.Rows)
	Results.Param("large_tx_rows", n)
	w, err := e.NewWALSetup(ctx, "bigtx", map[string]Decoder{"bigtx_mem": Pgoutput}, []Decoder{Pgoutput})
	must(b, err)
	must(b, e.LargeTransaction(ctx, w, n))
	b.ResetTimer()
	run, err := e.RunCLI(ctx, w.Pipelines["bigtx_mem"], "wal")
	must(b, err)
	if run.Rows != w.Changes {
		b.Fatalf("pg2s3 wrote %d changes, the transaction made %d", run.Rows, w.Changes)
	}
	ref, err := e.RecvLogical(ctx, w, Pgoutput)
	must(b, err)
	publish(b, Throughputs("4 large transaction drain", run.Throughput, ref, "pg_recvlogical", Target{}))
	publish(b, Result{Case: "4/5 peak RSS, large transaction", Unit: "MB", Ours: run.MB(), Target: Target{MaxValue: 200},
		Note: fmt.Sprintf("child process, %d inserts in one transaction", run.Rows)})
}

// BenchmarkColdStart: case 7, bootstrap sizes against an aws-lambda-go
// hello world built the same way.
func BenchmarkColdStart(b *testing.B) {
	dir := b.TempDir()
	sizes, err := BootstrapSizes(dir)
	must(b, err)
	note := "linux/arm64 static, -s -w -trimpath, lambda.norpc"
	for _, f := range Functions {
		name := f[len("./functions/"):]
		publish(b, Result{Case: "7 bootstrap size " + name, Unit: "MB", Ours: mb(sizes[name]), Reference: mb(sizes["hello"]), RefName: "hello world", Note: note})
	}
	// Start to handler ready under the emulator, host builds, median of 10.
	hello, err := BuildBootstrap(HelloFunction, dir, runtime.GOOS, runtime.GOARCH)
	must(b, err)
	ref, err := ColdStart(hello, 10)
	must(b, err)
	for _, f := range Functions {
		bin, err := BuildBootstrap(f, dir, runtime.GOOS, runtime.GOARCH)
		must(b, err)
		d, err := ColdStart(bin, 10)
		must(b, err)
		publish(b, Result{Case: "7 cold start " + f[len("./functions/"):], Unit: "ms", Ours: ms(d), Reference: ms(ref), RefName: "hello world",
			Note: "aws-lambda-rie, start to first answer, median of 10"})
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
