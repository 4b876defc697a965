package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/awsstore/awstest"
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
	px.Set(testenv.Faults{PauseAfter: 1, Pause: 30 * time.Millisecond}) // slow enough to be caught mid-copy
	go func() {
		time.Sleep(300 * time.Millisecond)
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
