package replicate_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/localstore"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/replicate"
	"github.com/pg2s3/pg2s3/shared/report"
)

// recordingTasker records the work it is handed; fail makes RunTask fail.
type recordingTasker struct {
	got  []replicate.TaskWork
	fail error
}

func (r *recordingTasker) StartTask(_ context.Context, w replicate.TaskWork) (string, error) {
	r.got = append(r.got, w)
	if r.fail != nil {
		return "", r.fail
	}
	return "arn:aws:ecs:us-east-1:1:task/c/1", nil
}

// expiringBookmarks is the bookmark file whose first write ends the run's
// time: the clock below jumps past the deadline once a batch committed.
type expiringBookmarks struct {
	*localstore.File
	put *atomic.Bool
}

func (b expiringBookmarks) Put(ctx context.Context, id string, st bookmark.State, rev int64) (int64, error) {
	b.put.Store(true)
	return b.File.Put(ctx, id, st, rev)
}

// TestSyncHandsKeylessCopyToTask: a copy without a key that the deadline
// cuts off is handed to the task with its lease (held for the task as the
// run's owner, so the next run skips the stream without failing); when
// RunTask fails the run fails and the lease is released.
func TestSyncHandsKeylessCopyToTask(t *testing.T) {
	f := newFixture(t, `CREATE TABLE nokey (a int, b text); INSERT INTO nokey SELECT g, 'r' || g FROM generate_series(1, 500) g;`)
	s := &record.Stream{ID: "db-public-nokey", Schema: "public", Table: "nokey", Method: layout.FullTable,
		Columns: []record.Column{{Name: "a", Kind: record.KindInteger, SQLType: "integer"}, {Name: "b", Kind: record.KindString, SQLType: "text"}}}
	base := time.Now()
	var put atomic.Bool
	f.engine.Bookmarks = expiringBookmarks{f.bms, &put}
	f.engine.Now = func() time.Time {
		if put.Load() {
			return base.Add(time.Hour)
		}
		return base
	}
	job := func(runID string, tasker replicate.Tasker) replicate.SyncJob {
		put.Store(false)
		return replicate.SyncJob{Pipeline: "db", RunID: runID, Streams: []*record.Stream{s}, Leaser: f.bms, Tasker: tasker,
			Budget: replicate.Budget{BatchRows: 100, BatchBytes: 1 << 20, Deadline: base.Add(time.Minute)}}
	}

	tasker := &recordingTasker{}
	run := f.engine.Sync(f.ctx, job("run-1", tasker))
	// The first batch commits behind the reading of the second, so the
	// clock may jump while the second is read: one batch or two.
	if rows := run.Streams[0].Rows; run.Failed() || len(run.Streams) != 1 || run.Streams[0].CopyDone || rows != 100 && rows != 200 {
		t.Fatalf("first run: %+v", run.Streams)
	}
	if len(run.Tasks) != 1 || run.Tasks[0].ID == "" || run.Tasks[0].Work != "stream "+s.ID || len(tasker.got) != 1 ||
		tasker.got[0] != (replicate.TaskWork{Stream: s.ID, Owner: "run-1"}) {
		t.Fatalf("task: %+v, handed %+v", run.Tasks, tasker.got)
	}
	if err := f.bms.Acquire(f.ctx, "stream#"+s.ID, "run-2", time.Minute); !errors.Is(err, bookmark.ErrLeaseHeld) {
		t.Fatalf("the lease is not kept for the task: %v", err)
	}
	// The next scheduled run skips the stream, cleanly.
	run = f.engine.Sync(f.ctx, job("run-2", tasker))
	if run.Failed() || len(run.Streams) != 1 || !strings.Contains(run.Streams[0].Skipped, "already running") || len(tasker.got) != 1 {
		t.Fatalf("run while the task holds the stream: %+v", run.Streams)
	}
	// The task, as the same owner, takes the lease and copies in one pass.
	f.engine.Now = nil
	run = f.engine.Sync(f.ctx, replicate.SyncJob{Pipeline: "db", RunID: "run-1", Streams: []*record.Stream{s}, Leaser: f.bms,
		Budget: replicate.Budget{BatchRows: 100, BatchBytes: 1 << 20}})
	if run.Failed() || !run.Streams[0].CopyDone || run.Streams[0].Rows != 500 || !run.Streams[0].NewVersion || len(run.Tasks) != 0 {
		t.Fatalf("the task's run: %+v", run.Streams)
	}
	if err := f.bms.Acquire(f.ctx, "stream#"+s.ID, "run-3", time.Minute); err != nil {
		t.Fatalf("the task did not release the lease: %v", err)
	}
	f.bms.Release(f.ctx, "stream#"+s.ID, "run-3")

	// RunTask fails: the run fails, saying why, and releases the lease.
	f.exec("TRUNCATE nokey; INSERT INTO nokey SELECT g, 'r' || g FROM generate_series(1, 500) g")
	f.engine.Now = func() time.Time {
		if put.Load() {
			return base.Add(time.Hour)
		}
		return base
	}
	bad := &recordingTasker{fail: errors.New("AccessDeniedException")}
	run = f.engine.Sync(f.ctx, job("run-4", bad))
	if !run.Failed() || len(run.Tasks) != 1 || !strings.Contains(run.Tasks[0].Error, "AccessDeniedException") {
		t.Fatalf("failed RunTask: %+v %+v", run.Tasks, run.Streams)
	}
	if err := f.bms.Acquire(f.ctx, "stream#"+s.ID, "run-5", time.Minute); err != nil {
		t.Fatalf("the lease is kept although no task started: %v", err)
	}
}

// TestDrainHandsStuckSlotToTask: two drains in a row cut off by the
// deadline inside the same transaction hand the slot to the task, the
// second keeping the slot's lease for it; the first does not. A drain
// without a deadline (the task's) passes the transaction, clears the
// count and acknowledges past it.
func TestDrainHandsStuckSlotToTask(t *testing.T) {
	ctx := context.Background()
	eng, _, bms := logEngine(t, memTable{"a": {}})
	if _, err := bms.Put(ctx, "db-public-a", bookmark.State{Method: layout.LogBased, Version: 1, StartLSN: 0x100, CopyDone: true}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := bms.Put(ctx, layout.SlotBookmarkID("s"), bookmark.State{Method: layout.SlotDrain, CommittedLSN: 0x150}, 0); err != nil {
		t.Fatal(err)
	}
	big := tx("a", 0x300, 1, 2, 3, 4, 5, 6, 7, 8)
	tasker := &recordingTasker{}
	drain := func(runID string, events []record.Event, deadline time.Time) (*report.Run, *scriptLog) {
		t.Helper()
		log := &scriptLog{events: events}
		j := job(&fakeSlot{confirmed: 0x150, current: 0x400, fence: 0x300, log: log}, logStream("a"))
		j.RunID, j.Leaser, j.Tasker, j.Budget.Deadline, j.Budget.BatchRows = runID, bms, tasker, deadline, 3
		run, err := eng.Drain(ctx, j)
		if err != nil || run.Failed() {
			t.Fatalf("%s: %v %+v", runID, err, run)
		}
		return run, log
	}
	// Each bounded run gets the transaction's first five changes before
	// its deadline (the rest is still being decoded).
	for i, runID := range []string{"run-1", "run-2"} {
		run, _ := drain(runID, big[:6], time.Now().Add(300*time.Millisecond))
		if run.Slot.PartialRuns != i+1 || run.Slot.PartialCommitLSN != "0/300" {
			t.Fatalf("%s: slot %+v", runID, run.Slot)
		}
		if (i == 1) != (len(run.Tasks) == 1) {
			t.Fatalf("%s: tasks %+v", runID, run.Tasks)
		}
	}
	if len(tasker.got) != 1 || tasker.got[0] != (replicate.TaskWork{Slot: "s", Owner: "run-2"}) {
		t.Fatalf("handed: %+v", tasker.got)
	}
	if err := bms.Acquire(ctx, "slot#s", "run-3", time.Minute); !errors.Is(err, bookmark.ErrLeaseHeld) {
		t.Fatalf("the slot's lease is not kept for the task: %v", err)
	}
	// The task: the same owner, no deadline.
	run, log := drain("run-2", big, time.Time{})
	slot, _ := bms.Get(ctx, layout.SlotBookmarkID("s"))
	if len(run.Tasks) != 0 || slot.State.PartialRuns != 0 || slot.State.PartialCommitLSN != 0 || slot.State.CommittedLSN != 0x301 ||
		len(log.acks) == 0 || log.acks[len(log.acks)-1] != 0x301 || run.Streams[0].Rows != 3 {
		t.Fatalf("the task's drain: %+v, slot %+v, acks %x, tasks %+v", run.Streams, slot.State, log.acks, run.Tasks)
	}
}
