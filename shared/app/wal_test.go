package app_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/replicate"
	"github.com/pg2s3/pg2s3/shared/report"
)

const acctSchema = `
CREATE TABLE acct (id bigint PRIMARY KEY, balance numeric(20,2) NOT NULL, note text);
INSERT INTO acct SELECT g, g * 1.5, 'n' || g FROM generate_series(1, 3000) g;
`

// workload runs seeded random inserts, updates and deletes on tables (each
// with columns id, balance, note) until stop is called (at the latest when
// the test ends). It reconnects when the server goes away.
func workload(t *testing.T, dsn string, seed int64, tables ...string) (stop func()) {
	if len(tables) == 0 {
		tables = []string{"acct"}
	}
	var wg sync.WaitGroup
	quit := make(chan struct{})
	var once sync.Once
	stop = func() { once.Do(func() { close(quit) }); wg.Wait() }
	t.Cleanup(stop)
	wg.Add(1)
	go func() {
		defer wg.Done()
		ctx := context.Background()
		r := rand.New(rand.NewSource(seed))
		next := 10000
		var conn *pgx.Conn
		defer func() {
			if conn != nil {
				conn.Close(ctx)
			}
		}()
		for {
			select {
			case <-quit:
				return
			default:
			}
			if conn == nil {
				c, err := pgx.Connect(ctx, dsn)
				if err != nil {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				conn = c
			}
			err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				for i := 0; i < 1+r.Intn(5); i++ {
					table := pgx.Identifier{tables[r.Intn(len(tables))]}.Sanitize()
					id := 1 + r.Intn(3500)
					var err error
					switch r.Intn(3) {
					case 0:
						next++
						_, err = tx.Exec(ctx, "INSERT INTO "+table+" VALUES ($1, $2, 'ins')", next, r.Intn(1000))
					case 1:
						_, err = tx.Exec(ctx, "UPDATE "+table+" SET balance = balance + 1, note = 'upd' WHERE id = $1", id)
					case 2:
						_, err = tx.Exec(ctx, "DELETE FROM "+table+" WHERE id = $1", id)
					}
					if err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil { // the server restarted or the connection was cut
				conn.Close(ctx)
				conn = nil
			}
		}
	}()
	return stop
}

func drain(t *testing.T, p *pipeline, opts app.RunOptions) (rows int64, copyDone bool) {
	t.Helper()
	run, err := p.app.Drain(context.Background(), p.cat, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range run.Streams {
		if s.Error != "" {
			t.Fatalf("%s: %s", s.Stream, s.Error)
		}
		rows += s.Rows
		copyDone = s.CopyDone
	}
	return rows, copyDone
}

// TestLogBasedHandoff copies a table over several runs while it is being
// written, then follows the log: applying rows and changes in _sdc_lsn
// order by key gives the table.
func TestLogBasedHandoff(t *testing.T) {
	for _, plugin := range []string{"pgoutput", "wal2json"} {
		t.Run(plugin, func(t *testing.T) {
			dsn, _ := newDB(t, acctSchema)
			p := newPipeline(t, dsn, map[string]any{"logical_plugin": plugin, "batch_rows": 200}, map[string]string{"acct": "LOG_BASED"})
			stop := workload(t, dsn, 42)
			runs := 0
			for done := false; !done; runs++ {
				_, done = drain(t, p, app.RunOptions{MaxBatches: 3})
				if runs > 50 {
					t.Fatal("copy never finished")
				}
			}
			if runs < 2 {
				t.Fatalf("copy finished in %d runs; the test wants a multi-run copy", runs)
			}
			time.Sleep(200 * time.Millisecond)
			stop()
			for i := 0; i < 20; i++ {
				if n, _ := drain(t, p, app.RunOptions{}); n == 0 {
					break
				}
			}
			got := merge(p.rows("app_" + dbSuffix(dsn) + "-public-acct"))
			want := tableState(t, dsn, "SELECT id, balance, note FROM acct")
			if len(got) != len(want) {
				t.Fatalf("replicated %d rows, table has %d", len(got), len(want))
			}
			for id, w := range want {
				if !reflect.DeepEqual(got[id], w) {
					t.Fatalf("row %s: replicated %v, table %v", id, got[id], w)
				}
			}
		})
	}
}

// dbSuffix returns the database name's suffix after "app_".
func dbSuffix(dsn string) string {
	i := strings.LastIndex(dsn, "/app_")
	s := dsn[i+5:]
	if j := strings.IndexByte(s, '?'); j >= 0 {
		s = s[:j]
	}
	return s
}

// TestDecodersWriteTheSameOutput drains one workload through a pgoutput
// slot and a wal2json slot and compares the change rows.
func TestDecodersWriteTheSameOutput(t *testing.T) {
	dsn, _ := newDB(t, acctSchema+`
CREATE TABLE kinds (id int PRIMARY KEY, n numeric, ts timestamptz, j jsonb, arr text[], b bytea, big text);
ALTER TABLE kinds REPLICA IDENTITY FULL;`)
	methods := map[string]string{"acct": "LOG_BASED", "kinds": "LOG_BASED"}
	po := newPipeline(t, dsn, map[string]any{"logical_plugin": "pgoutput", "slot_name": "s_po"}, methods)
	wj := newPipeline(t, dsn, map[string]any{"logical_plugin": "wal2json", "slot_name": "s_wj"}, methods)
	drain(t, po, app.RunOptions{})
	drain(t, wj, app.RunOptions{})
	stop := workload(t, dsn, 7)
	time.Sleep(300 * time.Millisecond)
	stop()
	if err := execSQL(dsn, `
INSERT INTO kinds VALUES (1, 12345678901234567890.12345678901234567890, '2024-02-29 23:59:59.999999+00', '{"a": [1, 2.50]}', '{"x y",NULL}', '\x00ff', repeat('toast', 5000));
UPDATE kinds SET n = -0.5 WHERE id = 1;
UPDATE kinds SET ts = 'infinity' WHERE id = 1;
TRUNCATE kinds;`); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*pipeline{po, wj} {
		for i := 0; i < 10; i++ {
			if n, _ := drain(t, p, app.RunOptions{}); n == 0 {
				break
			}
		}
	}
	a, b := logRows(t, po), logRows(t, wj)
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("pgoutput wrote %d changes, wal2json %d", len(a), len(b))
	}
	for i := range a {
		if !reflect.DeepEqual(a[i], b[i]) {
			t.Fatalf("change %d differs:\npgoutput %.300v\nwal2json %.300v", i, a[i], b[i])
		}
	}
}

// logRows returns the change rows of a pipeline without the fields that
// differ between two pipelines by design.
func logRows(t *testing.T, p *pipeline) []map[string]any {
	var out []map[string]any
	for _, id := range []string{"acct", "kinds"} {
		for _, r := range p.logRows(streamID(p, id)) {
			delete(r, "_sdc_extracted_at")
			delete(r, "_sdc_batched_at")
			delete(r, "_sdc_table_version")
			out = append(out, r)
		}
	}
	return out
}

func streamID(p *pipeline, table string) string {
	for _, s := range p.cat.Streams {
		if s.TableName == table {
			return s.TapStreamID
		}
	}
	return ""
}

func execSQL(dsn, sql string) error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol)
	return err
}

// faultSink fails the manifest write of slot batch failAt once, and runs
// hook before every slot manifest.
type faultSink struct {
	replicate.Sink
	failAt int
	n      atomic.Int32
	hook   func(n int)
}

func (s *faultSink) PutIfAbsent(ctx context.Context, key string, body []byte, ct string) ([]byte, error) {
	if strings.HasPrefix(key, "_wal/") {
		n := int(s.n.Add(1))
		if s.hook != nil {
			s.hook(n)
		}
		if n == s.failAt {
			return nil, errors.New("injected: manifest write failed")
		}
	}
	return s.Sink.PutIfAbsent(ctx, key, body, ct)
}

// TestLargeTransactionBoundedAndResumable drains one transaction of
// 200,000 inserts in batches cut inside it, fails one batch, resumes, and
// checks every row arrived exactly once with the heap staying small.
func TestLargeTransactionBoundedAndResumable(t *testing.T) {
	dsn, _ := newDB(t, "CREATE TABLE big (id bigint PRIMARY KEY, payload text);")
	p := newPipeline(t, dsn, map[string]any{"batch_rows": 20000}, map[string]string{"big": "LOG_BASED"})
	drain(t, p, app.RunOptions{})
	if err := execSQL(dsn, "INSERT INTO big SELECT g, repeat('x', 200) || g FROM generate_series(1, 200000) g"); err != nil {
		t.Fatal(err)
	}
	fs := &faultSink{Sink: p.app.Stores.Sink, failAt: 4}
	p.app.Stores.Sink = fs
	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
			}
		}
	}()
	run, err := p.app.Drain(context.Background(), p.cat, app.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !run.Failed() {
		t.Fatal("the injected manifest failure was not reported")
	}
	for i := 0; i < 5; i++ {
		if n, _ := drain(t, p, app.RunOptions{}); n == 0 {
			break
		}
	}
	close(stop)
	rows := p.rows(streamID(p, "big"))
	seen := map[string]int{}
	for _, r := range rows {
		seen[fmt.Sprint(r["id"])]++
	}
	if len(seen) != 200000 {
		t.Fatalf("%d distinct rows, want 200000", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("row %s written %d times", id, n)
		}
	}
	t.Logf("peak heap in use while draining 200,000 changes (~44 MB of WAL): %d MB", peak.Load()>>20)
	if peak.Load() > 96<<20 {
		t.Fatalf("heap reached %d MB: memory is not bounded", peak.Load()>>20)
	}
}

// TestTerminatedWalsender kills the replication connection mid-drain: the
// run fails, the next resumes, and the output has no gap or duplicate.
func TestTerminatedWalsender(t *testing.T) {
	dsn, _ := newDB(t, "CREATE TABLE big (id bigint PRIMARY KEY, payload text);")
	p := newPipeline(t, dsn, map[string]any{"batch_rows": 5000}, map[string]string{"big": "LOG_BASED"})
	drain(t, p, app.RunOptions{})
	if err := execSQL(dsn, "INSERT INTO big SELECT g, 'p' || g FROM generate_series(1, 50000) g"); err != nil {
		t.Fatal(err)
	}
	fs := &faultSink{Sink: p.app.Stores.Sink}
	fs.hook = func(n int) {
		if n == 3 {
			execSQL(dsn, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE active_pid IS NOT NULL")
		}
	}
	p.app.Stores.Sink = fs
	run, err := p.app.Drain(context.Background(), p.cat, app.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !run.Failed() {
		t.Fatal("terminating the walsender did not fail the run")
	}
	fs.hook = nil
	for i := 0; i < 5; i++ {
		if n, _ := drain(t, p, app.RunOptions{}); n == 0 {
			break
		}
	}
	seen := map[string]int{}
	for _, r := range p.rows(streamID(p, "big")) {
		seen[fmt.Sprint(r["id"])]++
	}
	if len(seen) != 50000 {
		t.Fatalf("%d distinct rows, want 50000", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("row %s written %d times", id, n)
		}
	}
}

// TestIdleDrain: with nothing to read, a drain reaches its fence at once
// and acknowledges the heartbeat, so the slot advances.
func TestIdleDrain(t *testing.T) {
	dsn, _ := newDB(t, acctSchema)
	p := newPipeline(t, dsn, nil, map[string]string{"acct": "LOG_BASED"})
	drain(t, p, app.RunOptions{})
	// Traffic on an unselected table only.
	if err := execSQL(dsn, "CREATE TABLE other (id int); INSERT INTO other SELECT generate_series(1, 1000)"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	run, err := p.app.Drain(context.Background(), p.cat, app.RunOptions{Deadline: time.Now().Add(30 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if run.Slot == nil || !run.Slot.ReachedFence || run.Rows() != 0 {
		t.Fatalf("idle drain: %+v", run.Slot)
	}
	if run.StopReason != "done" {
		t.Fatalf("idle drain stopped on %s after %s", run.StopReason, took)
	}
	t.Logf("idle drain took %s", took)
	// The slot moved past the other table's WAL: it holds nothing back.
	var behind bool
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(context.Background(), "SELECT confirmed_flush_lsn < $1::pg_lsn FROM pg_replication_slots WHERE slot_name = $2",
		run.Slot.FenceLSN, p.app.Cfg.SlotName).Scan(&behind); err != nil || behind {
		t.Fatalf("the slot did not move to the fence %s after an idle drain (%v)", run.Slot.FenceLSN, err)
	}
}

// TestKeylessLogBasedNeedsReplicaIdentityFull: a table without a primary
// key is refused until REPLICA IDENTITY FULL, then its deletes carry
// every column.
func TestKeylessLogBasedNeedsReplicaIdentityFull(t *testing.T) {
	dsn, _ := newDB(t, "CREATE TABLE log (at timestamptz, msg text); INSERT INTO log VALUES ('2024-01-01', 'a');")
	p := newPipeline(t, dsn, nil, map[string]string{"log": "LOG_BASED"})
	run, err := p.app.Drain(context.Background(), p.cat, app.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !run.Failed() || !strings.Contains(run.Streams[0].Error, "REPLICA IDENTITY FULL") {
		t.Fatalf("keyless table accepted: %+v", run.Streams)
	}
	if err := execSQL(dsn, "ALTER TABLE log REPLICA IDENTITY FULL"); err != nil {
		t.Fatal(err)
	}
	drain(t, p, app.RunOptions{})
	if err := execSQL(dsn, "DELETE FROM log WHERE msg = 'a'"); err != nil {
		t.Fatal(err)
	}
	drain(t, p, app.RunOptions{})
	rows := p.logRows(streamID(p, "log"))
	if len(rows) != 1 || rows[0]["_sdc_deleted_at"] == nil || rows[0]["msg"] != "a" || rows[0]["at"] != "2024-01-01T00:00:00.000000Z" {
		t.Fatalf("delete of a keyless row: %v", rows)
	}
}

// TestSlotReset: a slot reset drops the slot and copies the log-based
// streams again in a new version; later drains commit new batches next to
// the old slot's manifests, and the output still merges to the table.
func TestSlotReset(t *testing.T) {
	ctx := context.Background()
	dsn, _ := newDB(t, acctSchema)
	p := newPipeline(t, dsn, nil, map[string]string{"acct": "LOG_BASED"})
	id := streamID(p, "acct")
	drain(t, p, app.RunOptions{})
	for i := range 2 {
		if err := execSQL(dsn, fmt.Sprintf("UPDATE acct SET balance = balance + 1 WHERE id %% 5 = %d", i)); err != nil {
			t.Fatal(err)
		}
		drain(t, p, app.RunOptions{})
	}
	before, _ := p.app.Stores.Bookmarks.Get(ctx, id)
	var out strings.Builder
	if err := p.app.ResetSlot(ctx, &out); err != nil || !strings.Contains(out.String(), "1 log-based streams") {
		t.Fatalf("reset slot: %v %s", err, out.String())
	}
	// A slot reset on purpose is not a problem for status: the next drain
	// creates the slot.
	if st, err := p.app.Status(ctx, p.cat); err != nil || len(st.Attention) != 0 || st.Slot == nil || st.Slot.Exists {
		t.Fatalf("status after a slot reset: %v %+v", err, st)
	}
	for i := range 3 {
		if err := execSQL(dsn, fmt.Sprintf("UPDATE acct SET note = 'after %d' WHERE id %% 7 = %d; DELETE FROM acct WHERE id = %d", i, i, 100+i)); err != nil {
			t.Fatal(err)
		}
		drain(t, p, app.RunOptions{})
	}
	after, _ := p.app.Stores.Bookmarks.Get(ctx, id)
	if after.State.Version <= before.State.Version || !after.State.CopyDone {
		t.Fatalf("after the slot reset: version %d -> %d, copy done %v", before.State.Version, after.State.Version, after.State.CopyDone)
	}
	// A loader reads the newest version only: the old version's rows
	// miss the changes made while no slot existed.
	var current []map[string]any
	for _, r := range p.rows(id) {
		if num(r["_sdc_table_version"]) == after.State.Version {
			current = append(current, r)
		}
	}
	sameRows(t, merge(current), tableState(t, dsn, "SELECT id, balance, note FROM acct"))
}

// sameRows fails unless got and want hold the same rows by key.
func sameRows(t *testing.T, got, want map[string]map[string]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("replicated %d rows, table has %d", len(got), len(want))
	}
	for id, w := range want {
		if !reflect.DeepEqual(got[id], w) {
			t.Fatalf("row %s: replicated %v, table %v", id, got[id], w)
		}
	}
}

// TestPublicationOwnedByAnother: a user who may not change the publication
// still drains the tables it publishes; a new table outside it fails with
// the statement that adds it, and follows once an owner ran it.
func TestPublicationOwnedByAnother(t *testing.T) {
	ctx := context.Background()
	dsn, _ := newDB(t, acctSchema+"CREATE TABLE other (id bigint PRIMARY KEY, balance numeric(20,2), note text); INSERT INTO other VALUES (1, 1, 'a');")
	role, pub := "reader_"+dbSuffix(dsn), "pub_"+dbSuffix(dsn)
	if err := execSQL(dsn, fmt.Sprintf("CREATE ROLE %s LOGIN REPLICATION; GRANT SELECT ON acct, other TO %s; CREATE PUBLICATION %s FOR TABLE acct", role, role, pub)); err != nil {
		t.Fatal(err)
	}
	p := newPipeline(t, dsn, map[string]any{"user": role, "publication": pub}, map[string]string{"acct": "LOG_BASED", "other": "LOG_BASED"})
	run, err := p.app.Drain(ctx, p.cat, app.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]report.Stream{}
	for _, s := range run.Streams {
		byID[s.Stream] = s
	}
	acct, other := byID[streamID(p, "acct")], byID[streamID(p, "other")]
	want := fmt.Sprintf(`ALTER PUBLICATION "%s" ADD TABLE "public"."other";`, pub)
	if acct.Error != "" || acct.Rows != 3000 || !strings.Contains(other.Error, want) {
		t.Fatalf("drain with a publication the user may not change:\nacct %+v\nother %+v", acct, other)
	}
	if err := execSQL(dsn, "ALTER PUBLICATION "+pub+" ADD TABLE other; UPDATE other SET note = 'b'"); err != nil {
		t.Fatal(err)
	}
	drain(t, p, app.RunOptions{})
	sameRows(t, merge(p.rows(streamID(p, "other"))), tableState(t, dsn, "SELECT id, balance, note FROM other"))
}
