package functions_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/encode"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// taskRSSLimit bounds the task's peak RSS (VmHWM) with GOMEMLIMIT=150MiB:
// its memory holds a batch (batch_rows 2000 here), the encoder and the
// sink's buffers, whatever the transaction's or the table's size
// (measured on 2 shared cores: 65 MiB draining 600000 changes, 161 MiB
// copying 800000 rows).
const taskRSSLimit = 256 << 20

type taskResult struct {
	result
	Tasks []struct {
		Work   string `json:"work"`
		Reason string `json:"reason"`
		ID     string `json:"id"`
		Error  string `json:"error"`
	} `json:"tasks"`
}

// TestTaskEscalation: the two kinds of work a Lambda can never finish.
// A transaction of many changes (PG2S3_TEST_BIG_TX, 600000 by default;
// the case is 2000000) cuts two wal invocations off inside it;
// the second starts the task (RunTask against the ECS stand-in), and the
// next invocation skips the held slot cleanly. The task binary then
// drains it without a deadline in bounded memory (its peak RSS is
// measured), acknowledging past it, every change written once. A table
// without a key whose copy a sync invocation cannot finish is handed to
// the task too, which copies it in one version.
func TestTaskEscalation(t *testing.T) {
	bigTx := 600_000
	if s := os.Getenv("PG2S3_TEST_BIG_TX"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("PG2S3_TEST_BIG_TX=%q: a number of changes", s)
		}
		bigTx = n
	}
	const keylessRows = 800_000 // more than a 3 s invocation copies
	ecs, err := testenv.StartECS()
	if err != nil {
		t.Fatal(err)
	}
	defer ecs.Close()
	const events, nokey, slot = "big-public-events", "big-public-nokey", "pg2s3_big"
	const taskDef = "arn:aws:ecs:us-east-1:123456789012:task-definition/pg2s3-big-task:1"
	h := newHarness(t, "big", fmt.Sprintf(`CREATE TABLE events (id bigint PRIMARY KEY, v text);
		CREATE TABLE nokey (a bigint, b text);
		INSERT INTO nokey SELECT g, 'row ' || g FROM generate_series(1, %d) g;`, keylessRows),
		`PG2S3_SETTINGS={"batch_rows": 2000}`, "PG2S3_SLOT="+slot,
		`PG2S3_SELECTION={"`+events+`": {"replication_method": "LOG_BASED"}, "`+nokey+`": {"replication_method": "FULL_TABLE"}}`,
		"PG2S3_TASK_CLUSTER=pg2s3-big", "PG2S3_TASK_DEFINITION="+taskDef, "PG2S3_TASK_CONTAINER=pg2s3",
		"PG2S3_TASK_SUBNETS=subnet-a,subnet-b", "PG2S3_TASK_SECURITY_GROUPS=sg-1", "PG2S3_ECS_ENDPOINT="+ecs.Endpoint())
	ctx, pg, aws, bm, sink := h.ctx, h.pg, h.aws, h.bm, h.sink
	dsn := pg.DSN("big")
	invoke := func(name string, timeout time.Duration, payload string) (taskResult, error) {
		t.Helper()
		var res taskResult
		err := h.invoke(name, timeout, payload, &res)
		return res, err
	}
	// runTask runs the task binary as ECS would, with the overrides the
	// function asked for, and returns its peak RSS: VmHWM, read while it
	// runs (the rusage of a child counts the parent's RSS at the fork).
	runTask := func(over map[string]string) int64 {
		t.Helper()
		cmd := exec.Command(h.build("task"))
		// The stack sets GOMEMLIMIT to three quarters of the task's memory;
		// here as for a task of 200 MiB.
		cmd.Env = append([]string{"GOMEMLIMIT=150MiB"}, h.env...)
		for k, v := range over {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var peak atomic.Int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				if kb, ok := vmHWM(cmd.Process.Pid); ok {
					peak.Store(kb << 10)
				} else {
					return // exited
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		err := cmd.Wait()
		<-done
		if err != nil {
			t.Fatalf("task %v: %v\n%s", over, err, tail(out.Bytes()))
		}
		t.Logf("task %v: %s, peak RSS %d MiB", over, time.Since(start).Round(time.Millisecond), peak.Load()>>20)
		return peak.Load()
	}
	// status is what pg2s3 status shows of the pipeline.
	cfgKeys := aws.ConfigKeys("big")
	cfgKeys["host"], cfgKeys["port"], cfgKeys["user"], cfgKeys["dbname"], cfgKeys["sslmode"], cfgKeys["slot_name"], cfgKeys["pipeline"] = "127.0.0.1", pg.Port, "postgres", "big", "disable", slot, "big"
	cfgJSON, _ := json.Marshal(cfgKeys)
	cfg, err := config.Parse(cfgJSON)
	if err != nil {
		t.Fatal(err)
	}
	status := func() *app.Status {
		t.Helper()
		a, err := app.Open(ctx, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		st, err := a.Status(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	slotState := func() (partial, partialLSN, committed uint64, runs int) {
		t.Helper()
		v, err := bm.Get(ctx, layout.SlotBookmarkID(slot))
		if err != nil {
			t.Fatal(err)
		}
		return v.State.PartialCommitLSN, v.State.PartialLSN, v.State.CommittedLSN, v.State.PartialRuns
	}

	// A cut-off drain leaves the server's walsender decoding the large
	// transaction until it next writes to the closed connection: the
	// slot is busy until then (a scheduled run minutes later finds it
	// free; the task waits for it).
	waitSlotIdle := func() {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			var active bool
			if err := testenv.QueryValue(ctx, dsn, `SELECT active FROM pg_replication_slots WHERE slot_name = '`+slot+`'`, &active); err != nil {
				t.Fatal(err)
			}
			if !active {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the slot stays active")
			}
		}
	}

	// The slot and the (empty) initial copy.
	if res, err := invoke("wal", 30*time.Second, "{}"); err != nil || len(res.Tasks) > 0 {
		t.Fatalf("first wal: %+v %v", res, err)
	}
	start := time.Now()
	if err := testenv.Exec(ctx, dsn, fmt.Sprintf(`INSERT INTO events SELECT g, 'change ' || g FROM generate_series(1, %d) g`, bigTx)); err != nil {
		t.Fatal(err)
	}
	t.Logf("one transaction of %d changes in %s", bigTx, time.Since(start).Round(time.Millisecond))
	var lastRun string
	for i := 1; i <= 2; i++ {
		waitSlotIdle()
		res, err := invoke("wal", 3*time.Second, "{}")
		if err != nil {
			t.Fatalf("wal %d: %+v %v", i, res, err)
		}
		partial, _, _, runs := slotState()
		if runs != i {
			t.Fatalf("wal %d was not cut off before the transaction's end (the test needs more changes or a shorter timeout): partial %X, runs %d, result %+v", i, partial, runs, res)
		}
		where := fmt.Sprintf("inside the transaction at %X", partial)
		if partial == 0 {
			where = "before the server sent any of it"
		}
		t.Logf("wal %d: cut off with %d changes written, %s", i, res.Rows, where)
		if (i == 2) != (len(res.Tasks) == 1) || len(ecs.Calls()) != i-1 {
			t.Fatalf("wal %d: tasks %+v, RunTask calls %d", i, res.Tasks, len(ecs.Calls()))
		}
		lastRun = res.RunID
		if i == 2 && (res.Tasks[0].ID == "" || res.Tasks[0].Error != "" || res.Tasks[0].Work != "slot "+slot || !strings.Contains(res.Tasks[0].Reason, "2 runs in a row ended")) {
			t.Fatalf("wal 2 task: %+v", res.Tasks[0])
		}
	}
	_, _, stuck, _ := slotState() // committed before the transaction
	call := ecs.Calls()[0]
	over := call.Env("pg2s3")
	if call.Cluster != "pg2s3-big" || call.TaskDefinition != taskDef || call.LaunchType != "FARGATE" ||
		strings.Join(call.NetworkConfiguration.AwsvpcConfiguration.Subnets, ",") != "subnet-a,subnet-b" ||
		over["PG2S3_TASK_SLOT"] != slot || over["PG2S3_TASK_OWNER"] != lastRun || len(over) != 2 {
		t.Fatalf("RunTask request: %+v, overrides %v", call, over)
	}
	if st := status(); st.Slot == nil || st.Slot.PartialRuns != 2 || len(st.Tasks) != 1 || st.Tasks[0].Work != "slot "+slot ||
		st.Tasks[0].StartedBy != lastRun || st.Tasks[0].State != "running (holds the lease)" {
		t.Fatalf("status after the escalation: slot %+v, tasks %+v", st.Slot, st.Tasks)
	}
	// Meanwhile the slot's lease is the task's: a scheduled run skips it.
	if res, err := invoke("wal", 10*time.Second, "{}"); err != nil || res.StopReason != "held" || !strings.Contains(res.Message, "slot#"+slot) {
		t.Fatalf("wal while the task holds the slot: %+v %v", res, err)
	}

	if rss := runTask(over); rss > taskRSSLimit {
		t.Errorf("the drain task's peak RSS is %d MiB, above %d MiB", rss>>20, taskRSSLimit>>20)
	}
	if st := status(); len(st.Tasks) != 1 || !strings.HasPrefix(st.Tasks[0].State, "done at ") || st.Slot.PartialRuns != 0 {
		t.Fatalf("status after the task: slot %+v, tasks %+v", st.Slot, st.Tasks)
	}
	partial, _, committed, runs := slotState()
	if partial != 0 || runs != 0 || committed <= stuck {
		t.Fatalf("after the task the slot bookmark is partial %X, runs %d, committed %X (stuck at %X)", partial, runs, committed, stuck)
	}
	var acked bool
	if err := testenv.QueryValue(ctx, dsn, fmt.Sprintf(`SELECT confirmed_flush_lsn >= '%X/%X'::pg_lsn FROM pg_replication_slots WHERE slot_name = '%s'`, stuck>>32, stuck&0xFFFFFFFF, slot), &acked); err != nil || !acked {
		t.Fatalf("the slot is not acknowledged past the transaction: %v %v", acked, err)
	}
	// rows reads the data objects below prefix whose key contains part.
	rows := func(prefix, part string) []map[string]any {
		t.Helper()
		keys, err := sink.List(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		var out []map[string]any
		for _, k := range keys {
			if !strings.Contains(k, part) || !strings.HasSuffix(k, ".jsonl.gz") {
				continue
			}
			body, err := sink.Get(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := encode.ReadObject(k, body)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, rs...)
		}
		return out
	}
	seen := make([]byte, bigTx+1)
	for _, r := range rows(events+"/", "/wal-") {
		id, _ := strconv.Atoi(fmt.Sprint(r["id"]))
		if id < 1 || id > bigTx {
			t.Fatalf("row %v", r)
		}
		seen[id]++
	}
	for id := 1; id <= bigTx; id++ {
		if seen[id] != 1 {
			t.Fatalf("change of id %d written %d times", id, seen[id])
		}
	}

	// The keyless copy: cut off by the deadline, handed to the task.
	res, err := invoke("sync", 3*time.Second, `{"streams": ["`+nokey+`"]}`)
	if err != nil || len(res.Tasks) != 1 || res.Tasks[0].Work != "stream "+nokey || res.Tasks[0].ID == "" {
		t.Fatalf("sync of the keyless table: %+v %v", res, err)
	}
	calls := ecs.Calls()
	if len(calls) != 2 || calls[1].Env("pg2s3")["PG2S3_TASK_STREAM"] != nokey || calls[1].Env("pg2s3")["PG2S3_TASK_OWNER"] != res.RunID {
		t.Fatalf("RunTask for the copy: %+v", calls)
	}
	if res, err := invoke("sync", 10*time.Second, `{"streams": ["`+nokey+`"]}`); err != nil || res.Rows != 0 || len(res.Tasks) != 0 {
		t.Fatalf("sync while the task copies: %+v %v", res, err)
	}
	for _, ss := range status().Streams {
		if ss.Stream == nokey && !strings.Contains(ss.LastResult, "skipped: already running") {
			t.Errorf("status of %s while the task copies it: %q", nokey, ss.LastResult)
		}
	}
	if rss := runTask(calls[1].Env("pg2s3")); rss > taskRSSLimit {
		t.Errorf("the copy task's peak RSS is %d MiB, above %d MiB", rss>>20, taskRSSLimit>>20)
	}
	v, err := bm.Get(ctx, nokey)
	if err != nil || !v.State.CopyDone {
		t.Fatalf("keyless copy after the task: %+v %v", v, err)
	}
	n := len(rows(fmt.Sprintf("%s/v%d/", nokey, v.State.Version), "/"))
	if n != keylessRows {
		t.Fatalf("the task's version of %s holds %d rows, want %d", nokey, n, keylessRows)
	}
	if _, err := sink.Get(ctx, layout.ActivationKey(nokey, v.State.Version)); err != nil {
		t.Fatalf("the version is not activated: %v", err)
	}
}

// vmHWM is the peak resident set of a running process, in KiB.
func vmHWM(pid int) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			n, err := strconv.ParseInt(f[1], 10, 64)
			return n, err == nil
		}
	}
	return 0, false // a zombie has no memory lines
}

func tail(b []byte) []byte {
	if len(b) > 4000 {
		return b[len(b)-4000:]
	}
	return b
}
