package app_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/awsstore/awstest"
	"github.com/pg2s3/pg2s3/shared/report"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// TestBlackHoledS3EndsTheRunCleanly: S3 accepts connections and then
// never answers (a half-open endpoint) while a copy runs with a 3 s
// deadline: the run ends within the deadline plus its hard stop and the
// report's grace, reports the failure, and moves nothing past what is
// durable; once S3 answers again, the next run completes the copy with
// every row once.
func TestBlackHoledS3EndsTheRunCleanly(t *testing.T) {
	aws := awstest.Start(t, "blackhole", "blackhole")
	px, err := testenv.StartFaultProxy(strings.TrimPrefix(aws.S3.Endpoint(), "http://"), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	dsn, _ := newDB(t, `CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(1, 50000) g;`)
	keys := aws.ConfigKeys("p")
	keys["sink"].(map[string]any)["endpoint"] = "http://" + px.Addr
	keys["batch_rows"] = 2000
	p := newPipeline(t, dsn, keys, map[string]string{"t": "FULL_TABLE"})
	// Every chunk waits 20 ms, so the 25 batches' objects and manifests
	// take seconds; S3 goes half-open once the first bytes have reached
	// it, by progress rather than by a timer (a fast machine finished the
	// whole copy before a 300 ms timer fired).
	px.Set(testenv.Faults{Latency: 20 * time.Millisecond})
	go func() {
		for px.Bytes.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		px.Set(testenv.Faults{BlackHole: true})
		px.CutAll()
	}()
	start := time.Now()
	run, err := p.app.Sync(context.Background(), p.cat, app.RunOptions{Deadline: start.Add(3 * time.Second)})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if took > 3*time.Second+15*time.Second || !run.Failed() || px.BlackHoles.Load() == 0 {
		t.Fatalf("run against a black-holed S3 took %s (black holes %d), report %+v: want a failed run within the deadline, hard stop and grace", took, px.BlackHoles.Load(), run.Streams)
	}
	t.Logf("black-holed S3: the run ended after %s: %s", took.Round(time.Millisecond), run.Streams[0].Error)
	if msg := run.Streams[0].Error; strings.Count(msg, ".jsonl.gz") != 1 {
		t.Errorf("the error should name the object it failed on once: %s", msg)
	}

	px.Set(testenv.Faults{})
	for i := 0; i < 5; i++ {
		run, err = p.app.Sync(context.Background(), p.cat, app.RunOptions{})
		if err != nil || run.Failed() {
			t.Fatalf("sync after S3 came back: %v %+v", err, run)
		}
		if run.Streams[0].CopyDone {
			break
		}
	}
	id := streamID(p, "t")
	rows := copyRows(t, p, id, activeVersion(t, p, id))
	if len(rows) != 50000 || copyDuplicates(rows) != 0 {
		t.Fatalf("%d rows in the active version, %d doubled: want 50000 once", len(rows), copyDuplicates(rows))
	}
}

// TestBlackHoledPostgresEndsTheRunCleanly: PostgreSQL goes silent in the
// middle of a copy and of a drain (connections accepted, never
// answered): each run ends within its deadline and hard stop, failed,
// with nothing moved past what is durable; when the server answers again
// the copy and the log complete with the current tables equal to the
// source.
func TestBlackHoledPostgresEndsTheRunCleanly(t *testing.T) {
	dsn, _ := newDB(t, `CREATE TABLE f (id int PRIMARY KEY, v text); INSERT INTO f SELECT g, repeat('f', 300) FROM generate_series(1, 60000) g;
CREATE TABLE l (id int PRIMARY KEY, v text); INSERT INTO l SELECT g, 'l' || g FROM generate_series(1, 2000) g;`)
	px, err := testenv.StartFaultProxy(fmt.Sprintf("127.0.0.1:%d", testPG.Port), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	p := newPipeline(t, dsn, map[string]any{"port": px.Port(), "batch_rows": 1000}, map[string]string{"f": "FULL_TABLE", "l": "LOG_BASED"})
	ctx := context.Background()
	drain(t, p, app.RunOptions{}) // l's copy, before the faults
	for i := 0; i < 5; i++ {
		mustExec(t, dsn, "UPDATE l SET v = v || '+'")
	}
	mustExec(t, dsn, "UPDATE l SET v = 'changed' WHERE id <= 500; DELETE FROM l WHERE id > 1900")
	slow := testenv.Faults{Latency: 30 * time.Millisecond} // so the black hole comes mid-run
	px.Set(slow)
	for _, kind := range []string{"sync", "wal"} {
		go func() {
			time.Sleep(250 * time.Millisecond)
			px.Silence(true) // open connections go quiet: nothing is cut
		}()
		start := time.Now()
		var run *report.Run
		if kind == "sync" {
			run, err = p.app.Sync(ctx, p.cat, app.RunOptions{Deadline: start.Add(2 * time.Second)})
		} else {
			run, err = p.app.Drain(ctx, p.cat, app.RunOptions{Deadline: start.Add(2 * time.Second)})
		}
		took := time.Since(start)
		if took > 2*time.Second+12*time.Second || (err == nil && !run.Failed()) {
			t.Fatalf("%s against a black-holed PostgreSQL took %s: %v %+v", kind, took, err, run)
		}
		t.Logf("%s against a black-holed PostgreSQL ended after %s: %v", kind, took.Round(time.Millisecond), err)
		px.Silence(false)
	}
	px.Set(testenv.Faults{})
	for i := 0; i < 10; i++ {
		run, err := p.app.Sync(ctx, p.cat, app.RunOptions{})
		if err != nil || run.Failed() {
			t.Fatalf("sync after PostgreSQL came back: %v %+v", err, run)
		}
		if run.Streams[0].CopyDone {
			break
		}
	}
	drain(t, p, app.RunOptions{})
	checkCurrent(t, p, dsn, "f", "l")
}

// TestGarbledConnectionsFailTheDrainCleanly: the proxy in front of
// PostgreSQL sends random bytes and then cuts the connection, at a seeded
// point of what the server sends (the replication stream or the query
// connection beside it), while a drain runs. Each such drain ends with a
// clear error, never acknowledges the slot past its bookmark, and the next
// runs reconnect and deliver every change.
func TestGarbledConnectionsFailTheDrainCleanly(t *testing.T) {
	dsn, _ := newDB(t, `CREATE TABLE l (id int PRIMARY KEY, v text); INSERT INTO l SELECT g, 'l' || g FROM generate_series(1, 3000) g;`)
	px, err := testenv.StartFaultProxy(fmt.Sprintf("127.0.0.1:%d", testPG.Port), 5)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	p := newPipeline(t, dsn, map[string]any{"port": px.Port(), "batch_rows": 500}, map[string]string{"l": "LOG_BASED"})
	drain(t, p, app.RunOptions{}) // the copy, before the faults
	rnd := rand.New(rand.NewSource(7))
	failed := 0
	for i := 0; i < 8; i++ {
		mustExec(t, dsn, fmt.Sprintf(`UPDATE l SET v = v || '+%d' WHERE id %% 7 = %d; INSERT INTO l SELECT g, 'n' FROM generate_series(%d, %d) g;
DELETE FROM l WHERE id %% 11 = %d`, i, i%7, 10000+i*500, 10000+i*500+499, i))
		px.Set(testenv.Faults{GarbleAfter: 1 + rnd.Int63n(120_000), GarbleBytes: 1 + rnd.Int63n(300)})
		run, err := p.app.Drain(context.Background(), p.cat, app.RunOptions{Deadline: time.Now().Add(20 * time.Second)})
		px.Set(testenv.Faults{})
		if err == nil && run.Failed() {
			for _, s := range run.Streams {
				if s.Error != "" {
					err = errors.New(s.Error)
				}
			}
		}
		if err != nil {
			failed++
			if msg := err.Error(); len(msg) < 20 || strings.ContainsAny(msg, "\x00\xff") {
				t.Errorf("garbled drain %d: an unclear error %q", i, msg)
			}
			t.Logf("garbled drain %d: %v", i, err)
		}
		checkSlotBehindBookmark(t, dsn, p)
	}
	if failed == 0 || px.Garbles.Load() == 0 {
		t.Fatalf("no drain met the garbage (%d garbled connections)", px.Garbles.Load())
	}
	drain(t, p, app.RunOptions{})
	checkCurrent(t, p, dsn, "l")
}
