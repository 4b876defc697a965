package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// Decoder is a logical decoding plugin with the options pg2s3 passes it,
// so the pg_recvlogical reference asks the server for the same output.
type Decoder struct {
	Plugin  string
	Options func(publication, table string) []string
}

var (
	Pgoutput = Decoder{"pgoutput", func(pub, _ string) []string {
		return []string{"proto_version=1", "publication_names=" + pub, "messages=true"}
	}}
	Wal2json = Decoder{"wal2json", func(_, table string) []string {
		return []string{"format-version=2", "include-transaction=true", "include-xids=true", "include-lsn=true",
			"include-timestamp=true", "include-types=false", "include-type-oids=true", "add-tables=public." + table}
	}}
)

// WALSetup is a table with its log-based pg2s3 pipelines and reference
// slots, all created before the workload, so every reader sees the same
// WAL.
type WALSetup struct {
	Table       string
	Publication string
	Pipelines   map[string]*Pipeline // by name
	RefSlots    map[string]string    // plugin -> slot
	EndLSN      string               // end of the workload
	Changes     int64                // changes the workload made
}

// NewWALSetup creates an empty mixed table, one primed pg2s3 pipeline per
// name (its slot created, its empty initial copy done) and one reference
// slot per decoder.
func (e *Env) NewWALSetup(ctx context.Context, table string, pipelines map[string]Decoder, refs []Decoder) (*WALSetup, error) {
	w := &WALSetup{Table: table, Publication: table + "_pub", Pipelines: map[string]*Pipeline{}, RefSlots: map[string]string{}}
	if err := testenv.Exec(ctx, e.DSN, fmt.Sprintf("CREATE TABLE %s (%s)", pgx.Identifier{table}.Sanitize(), mixedColumns)); err != nil {
		return nil, err
	}
	for name, dec := range pipelines {
		p, err := e.NewPipeline(ctx, name, map[string]any{"slot_name": name, "logical_plugin": dec.Plugin, "publication": w.Publication},
			Selection{table: "LOG_BASED"})
		if err != nil {
			return nil, err
		}
		if _, err := Drain(ctx, p); err != nil {
			return nil, fmt.Errorf("prime %s: %w", name, err)
		}
		w.Pipelines[name] = p
	}
	for _, dec := range refs {
		slot := table + "_ref_" + dec.Plugin
		if err := testenv.Exec(ctx, e.DSN, fmt.Sprintf("SELECT pg_create_logical_replication_slot('%s', '%s')", slot, dec.Plugin)); err != nil {
			return nil, err
		}
		w.RefSlots[dec.Plugin] = slot
	}
	return w, nil
}

// workloadProc makes changes to a mixed table in transactions cycling
// through sizes, each 60% inserts, 30% updates and 10% deletes (of the
// oldest rows), committing after each, until target changes are made.
var workloadProc = `
CREATE OR REPLACE PROCEDURE bench_workload(tbl text, target bigint, sizes int[], INOUT done bigint DEFAULT 0)
LANGUAGE plpgsql AS $$
DECLARE
  next_id bigint := 1; lo bigint := 1; i int := 0;
  s int; ins int; upd int; del int; n bigint;
BEGIN
  WHILE done < target LOOP
    s := least(sizes[1 + i % array_length(sizes, 1)], target - done);
    i := i + 1;
    ins := ceil(s * 0.6); upd := floor(s * 0.3); del := s - ins - upd;
    EXECUTE format('INSERT INTO %I ` + strings.NewReplacer("'", "''", "%", "%%").Replace(mixedSelect) + ` FROM generate_series($1::bigint, $2::bigint) g', tbl) USING next_id, next_id + ins - 1;
    GET DIAGNOSTICS n = ROW_COUNT; done := done + n; next_id := next_id + ins;
    EXECUTE format('DELETE FROM %I WHERE id >= $1 AND id < $2', tbl) USING lo, lo + del;
    GET DIAGNOSTICS n = ROW_COUNT; done := done + n; lo := lo + del;
    EXECUTE format('UPDATE %I SET qty = qty + 1, updated_at = updated_at + interval ''1 hour'', note = coalesce(note, '''') || ''!'' WHERE id >= $1 AND id < $2', tbl) USING lo, lo + upd;
    GET DIAGNOSTICS n = ROW_COUNT; done := done + n;
    COMMIT;
  END LOOP;
END $$;`

// Workload makes about n changes in transactions of the given sizes and
// records the WAL position after them.
func (e *Env) Workload(ctx context.Context, w *WALSetup, n int64, sizes []int) error {
	conn, err := pgx.Connect(ctx, e.DSN)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, workloadProc); err != nil {
		return fmt.Errorf("create workload: %w", err)
	}
	arr := "{"
	for i, s := range sizes {
		if i > 0 {
			arr += ","
		}
		arr += fmt.Sprint(s)
	}
	arr += "}"
	var done int64
	sql := fmt.Sprintf("CALL bench_workload('%s', %d, '%s')", w.Table, n, arr)
	if err := conn.QueryRow(ctx, sql, pgx.QueryExecModeSimpleProtocol).Scan(&done); err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	w.Changes += done
	return conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&w.EndLSN)
}

// LargeTransaction inserts n rows in one transaction.
func (e *Env) LargeTransaction(ctx context.Context, w *WALSetup, n int64) error {
	conn, err := pgx.Connect(ctx, e.DSN)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	tag, err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO %s %s FROM generate_series(1::bigint, %d) g", pgx.Identifier{w.Table}.Sanitize(), mixedSelect, n))
	if err != nil {
		return err
	}
	w.Changes += tag.RowsAffected()
	return conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&w.EndLSN)
}

// Drain runs one unbounded App.Drain; Rows counts the changes read.
func Drain(ctx context.Context, p *Pipeline) (Throughput, error) {
	return measureObjects(p, func() (Throughput, error) { return drain(ctx, p) })
}

func drain(ctx context.Context, p *Pipeline) (Throughput, error) {
	t0 := time.Now()
	run, err := p.App.Drain(ctx, p.Cat, app.RunOptions{})
	if err != nil {
		return Throughput{}, err
	}
	d := time.Since(t0)
	for _, s := range run.Streams {
		if s.Error != "" {
			return Throughput{}, fmt.Errorf("drain %s: %s", s.Stream, s.Error)
		}
	}
	if run.Slot == nil || !run.Slot.ReachedFence {
		return Throughput{}, fmt.Errorf("drain %s: stopped (%s) before its fence", p.Name, run.StopReason)
	}
	return Throughput{Rows: run.Slot.Changes, Dur: d, Leases: 1}, nil
}

// RecvLogical is the reference: pg_recvlogical streams w's reference slot
// for dec from its start to the workload's end into a file.
func (e *Env) RecvLogical(ctx context.Context, w *WALSetup, dec Decoder) (Throughput, error) {
	slot := w.RefSlots[dec.Plugin]
	out := filepath.Join(e.Dir, slot+".out")
	args := []string{"-d", e.DSN, "--slot", slot, "--start", "--no-loop", "-f", out, "-E", w.EndLSN, "-F", "10"}
	for _, o := range dec.Options(w.Publication, w.Table) {
		args = append(args, "-o", o)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.PG.Bin("pg_recvlogical"), args...)
	t0 := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return Throughput{}, fmt.Errorf("pg_recvlogical %s: %v: %s", dec.Plugin, err, out)
	}
	d := time.Since(t0)
	os.Remove(out)
	return Throughput{Rows: w.Changes, Dur: d}, nil
}
