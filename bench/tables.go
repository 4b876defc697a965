package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/singer"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// mixedColumns is the mixed-type table of cases 1, 2 and 6, and of the
// WAL workload: ints, numeric, text of varied length, timestamptz, jsonb,
// text[], uuid, bool, and nullable columns.
const mixedColumns = `id bigint PRIMARY KEY, qty int NOT NULL, price numeric(14,2), name text NOT NULL,
	note text, updated_at timestamptz NOT NULL, attrs jsonb, tags text[], uid uuid, active bool, score int`

// mixedSelect generates rows for ids in the series g.
const mixedSelect = `SELECT g, ((g * 7) % 1000)::int, round(((g * 7919) % 10000000) / 100.0, 2), 'customer ' || g,
	CASE WHEN g % 5 = 0 THEN NULL ELSE repeat(md5(g::text), (1 + g % 4)::int) END,
	timestamptz '2024-01-01 00:00:00+00' + g * interval '1.5 second',
	jsonb_build_object('n', g, 'kind', 'k' || (g % 17), 'flags', jsonb_build_array(g % 2 = 0, g % 3)),
	ARRAY['tag' || (g % 10), 'tag' || (g % 13), 'x y'],
	md5(g::text)::uuid, g % 2 = 0, NULLIF(g % 3, 0)::int`

// selectList is the column list the COPY references read.
const selectList = "id, qty, price, name, note, updated_at, attrs, tags, uid, active, score"

// CreateMixed creates table name with rows 1..n of the mixed types, and
// an index on (updated_at, id) for key-based incremental pages.
func CreateMixed(ctx context.Context, dsn, name string, n int) error {
	id := pgx.Identifier{name}.Sanitize()
	return execThenVacuum(ctx, dsn, id, fmt.Sprintf(`
CREATE TABLE %[1]s (%[2]s);
INSERT INTO %[1]s %[3]s FROM generate_series(1::bigint, %[4]d) g;
CREATE INDEX ON %[1]s (updated_at, id);`, id, mixedColumns, mixedSelect, n))
}

// CopySubset creates table name holding the first n rows of from.
func CopySubset(ctx context.Context, dsn, name, from string, n int) error {
	id := pgx.Identifier{name}.Sanitize()
	return execThenVacuum(ctx, dsn, id, fmt.Sprintf(`
CREATE TABLE %[1]s (%[2]s);
INSERT INTO %[1]s SELECT * FROM %[3]s WHERE id <= %[4]d;
CREATE INDEX ON %[1]s (updated_at, id);`, id, mixedColumns, pgx.Identifier{from}.Sanitize(), n))
}

// execThenVacuum runs sql, then VACUUM ANALYZE table (all-visible pages,
// fresh statistics: what a long-lived table has).
func execThenVacuum(ctx context.Context, dsn, table, sql string) error {
	if err := testenv.Exec(ctx, dsn, sql); err != nil {
		return err
	}
	return testenv.Exec(ctx, dsn, "VACUUM ANALYZE "+table)
}

// Throughput is rows (or changes) moved in a duration.
type Throughput struct {
	Rows int64
	Dur  time.Duration
	// CPU is the CPU time this process spent (user and system), when
	// measured: pg2s3's own cost, which varies less than wall time on a
	// shared machine (the server's is not in it).
	CPU time.Duration
	// Puts, Commits and Leases are the S3 requests, committed batches and
	// leases of a pg2s3 run (the cost case).
	Puts, Commits, Leases int64
}

// Usage is what t asked of AWS, for the cost case, on the stack's
// default function size.
func (t Throughput) Usage() Usage {
	return Usage{Rows: t.Rows, Dur: t.Dur, Puts: t.Puts, Commits: t.Commits, Leases: t.Leases, MemoryMB: LambdaMemoryMB, RunSecond: LambdaRunSeconds}
}

// measureObjects runs f and adds to its Throughput the S3 requests and
// commits of the objects it wrote to p's directory sink.
func measureObjects(p *Pipeline, f func() (Throughput, error)) (Throughput, error) {
	dir := filepath.Join(p.Dir, "out")
	before, err := sinkFiles(dir)
	if err != nil {
		return Throughput{}, err
	}
	t, err := f()
	if err != nil {
		return t, err
	}
	after, err := sinkFiles(dir)
	if err != nil {
		return t, err
	}
	t.Puts, t.Commits = newObjects(before, after)
	return t, nil
}

// PerSec returns rows per second.
func (t Throughput) PerSec() float64 {
	if t.Dur <= 0 {
		return 0
	}
	return float64(t.Rows) / t.Dur.Seconds()
}

// CopyBinary reads `COPY (query) TO STDOUT (FORMAT binary)` with pgx into
// io.Discard: the fastest the server hands these rows to a client.
func CopyBinary(ctx context.Context, dsn, query string) (Throughput, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return Throughput{}, err
	}
	defer conn.Close(ctx)
	t0 := time.Now()
	tag, err := conn.PgConn().CopyTo(ctx, io.Discard, "COPY ("+query+") TO STDOUT (FORMAT binary)")
	if err != nil {
		return Throughput{}, fmt.Errorf("copy: %w", err)
	}
	return Throughput{Rows: tag.RowsAffected(), Dur: time.Since(t0)}, nil
}

// Sync runs one unbounded App.Sync over p's selected streams.
func Sync(ctx context.Context, p *Pipeline) (Throughput, error) {
	return SyncParallel(ctx, p, 1)
}

// SyncParallel runs one unbounded App.Sync over p's selected streams with
// workers workers per stream (sync --parallel).
func SyncParallel(ctx context.Context, p *Pipeline, workers int) (Throughput, error) {
	return measureObjects(p, func() (Throughput, error) { return syncParallel(ctx, p, workers) })
}

func syncParallel(ctx context.Context, p *Pipeline, workers int) (Throughput, error) {
	t0, cpu := time.Now(), processCPU()
	run, err := p.App.Sync(ctx, p.Cat, app.RunOptions{Parallel: workers})
	if err != nil {
		return Throughput{}, err
	}
	d := time.Since(t0)
	for _, s := range run.Streams {
		if s.Error != "" {
			return Throughput{}, fmt.Errorf("sync %s: %s", s.Stream, s.Error)
		}
	}
	return Throughput{Rows: run.Rows(), Dur: d, CPU: processCPU() - cpu, Leases: int64(len(run.Streams))}, nil
}

// Repeats is how often each table figure is measured (BENCH_REPEAT,
// default 3); pg2s3 and its reference alternate and the best of each
// counts, which is what the machine can do when neighbours are quiet.
func Repeats() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_REPEAT")); err == nil && n >= 1 {
		return n
	}
	return 3
}

// bestOf runs ours and ref alternately Repeats() times and keeps the
// fastest of each.
func bestOf(ours, ref func(i int) (Throughput, error)) (bo, br Throughput, err error) {
	keep := func(best *Throughput, t Throughput) {
		if best.Dur == 0 || t.Dur < best.Dur {
			*best = t
		}
	}
	for i := 0; i < Repeats(); i++ {
		o, err := ours(i)
		if err != nil {
			return bo, br, err
		}
		r, err := ref(i)
		if err != nil {
			return bo, br, err
		}
		keep(&bo, o)
		keep(&br, r)
	}
	return bo, br, nil
}

// FullTable measures case 1 on table: pg2s3 into a fresh directory sink
// (a new pipeline each time, so each run copies the whole table), against
// the COPY reference on the same rows.
func (e *Env) FullTable(ctx context.Context, table string) (ours, ref Throughput, err error) {
	return bestOf(func(i int) (Throughput, error) {
		p, err := e.NewPipeline(ctx, fmt.Sprintf("full_%s_%d", table, i), nil, Selection{table: "FULL_TABLE"})
		if err != nil {
			return Throughput{}, err
		}
		return Sync(ctx, p)
	}, func(int) (Throughput, error) {
		return CopyBinary(ctx, e.DSN, "SELECT "+selectList+" FROM "+pgx.Identifier{table}.Sanitize())
	})
}

// ParallelCopy measures case 1 split into eight ranges (rows_per_range =
// rows/8, planned from the table's statistics) and copied by workers
// workers, against the same with one worker, alternating, best of each.
func (e *Env) ParallelCopy(ctx context.Context, table string, rows int64, workers int) (ours, ref Throughput, err error) {
	run := func(name string, n int) func(i int) (Throughput, error) {
		return func(i int) (Throughput, error) {
			p, err := e.NewPipeline(ctx, fmt.Sprintf("%s_%s_%d", name, table, i), map[string]any{"rows_per_range": max(rows/8, 1)}, Selection{table: "FULL_TABLE"})
			if err != nil {
				return Throughput{}, err
			}
			return SyncParallel(ctx, p, n)
		}
	}
	return bestOf(run(fmt.Sprintf("parallel%d", workers), workers), run("parallel1", 1))
}

// Incremental measures case 2: a key-based incremental run from a
// bookmark at the table's middle updated_at, against COPY of those rows.
func (e *Env) Incremental(ctx context.Context, table string) (ours, ref Throughput, err error) {
	conn, err := pgx.Connect(ctx, e.DSN)
	if err != nil {
		return ours, ref, err
	}
	var mid string
	err = conn.QueryRow(ctx, fmt.Sprintf("SELECT updated_at::text FROM %s WHERE id = (SELECT max(id) / 2 FROM %[1]s)", pgx.Identifier{table}.Sanitize())).Scan(&mid)
	conn.Close(ctx)
	if err != nil {
		return ours, ref, err
	}
	ours, ref, err = bestOf(func(i int) (Throughput, error) {
		p, err := e.NewPipeline(ctx, fmt.Sprintf("incremental_%s_%d", table, i), nil, Selection{table: "INCREMENTAL:updated_at"})
		if err != nil {
			return Throughput{}, err
		}
		if err := ImportIncremental(ctx, p, p.StreamID(table), "updated_at", mid); err != nil {
			return Throughput{}, err
		}
		return Sync(ctx, p)
	}, func(int) (Throughput, error) {
		return CopyBinary(ctx, e.DSN, fmt.Sprintf("SELECT %s FROM %s WHERE updated_at >= '%s'", selectList, pgx.Identifier{table}.Sanitize(), mid))
	})
	if err == nil && ref.Rows != ours.Rows {
		err = fmt.Errorf("incremental: pg2s3 wrote %d rows, COPY read %d", ours.Rows, ref.Rows)
	}
	return ours, ref, err
}

// ImportIncremental sets stream's bookmark to key >= value through the
// tap-postgres STATE import, the way a user moving from Stitch would.
func ImportIncremental(ctx context.Context, p *Pipeline, stream, key, value string) error {
	doc, _ := json.Marshal(map[string]any{"bookmarks": map[string]any{stream: map[string]any{
		"last_replication_method": "INCREMENTAL", "replication_key": key, "replication_key_value": value}}})
	_, err := singer.ImportState(ctx, p.App.Stores.Bookmarks, doc, time.Now())
	return err
}

// processCPU returns the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
