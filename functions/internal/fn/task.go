package fn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/awsstore"
	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/postgres/logical"
	"github.com/pg2s3/pg2s3/shared/replicate"
	"github.com/pg2s3/pg2s3/shared/report"
)

// The task's settings. The stack sets the first five on the wal and sync
// functions when it defines the task (a pipeline with a vpc); the
// functions set the work variables as RunTask overrides.
const (
	TaskClusterEnv        = "PG2S3_TASK_CLUSTER"
	TaskDefinitionEnv     = "PG2S3_TASK_DEFINITION"
	TaskContainerEnv      = "PG2S3_TASK_CONTAINER"
	TaskSubnetsEnv        = "PG2S3_TASK_SUBNETS"         // comma-separated
	TaskSecurityGroupsEnv = "PG2S3_TASK_SECURITY_GROUPS" // comma-separated
	ECSEndpointEnv        = "PG2S3_ECS_ENDPOINT"         // a compatible server (tests)
	// The work: the slot to drain or the stream to copy, and the lease
	// owner the task takes over from the run that started it.
	TaskSlotEnv   = "PG2S3_TASK_SLOT"
	TaskStreamEnv = "PG2S3_TASK_STREAM"
	TaskOwnerEnv  = "PG2S3_TASK_OWNER"
)

// Tasker is the task the wal and sync functions hand work to, or nil
// when the stack defines none (no PG2S3_TASK_CLUSTER).
func Tasker(ctx context.Context, getenv func(string) string, env Env) (replicate.Tasker, error) {
	if getenv(TaskClusterEnv) == "" {
		return nil, nil
	}
	l, err := awsstore.NewTaskLauncher(ctx, awsstore.TaskSpec{
		Cluster: getenv(TaskClusterEnv), TaskDefinition: getenv(TaskDefinitionEnv), Container: getenv(TaskContainerEnv),
		Subnets: list(getenv(TaskSubnetsEnv)), SecurityGroups: list(getenv(TaskSecurityGroupsEnv)),
		Region: env.Region, Endpoint: getenv(ECSEndpointEnv),
	})
	if err != nil {
		return nil, err
	}
	return ecsTasker{l}, nil
}

type ecsTasker struct{ l *awsstore.TaskLauncher }

func (t ecsTasker) StartTask(ctx context.Context, w replicate.TaskWork) (string, error) {
	env := map[string]string{TaskOwnerEnv: w.Owner}
	if w.Slot != "" {
		env[TaskSlotEnv] = w.Slot
	} else {
		env[TaskStreamEnv] = w.Stream
	}
	return t.l.Run(ctx, env, "pg2s3-"+w.Owner)
}

func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Held turns a run that found its work's lease held (by the task, or
// another invocation) into a clean result: nothing is wrong, the holder
// does the work.
func Held(err error) (Result, bool) {
	if !errors.Is(err, bookmark.ErrLeaseHeld) {
		return Result{}, false
	}
	return Result{StopReason: "held", Message: "skipped: " + err.Error()}, true
}

// RunTask is the task's work (functions/task): with no deadline, the
// slot's drain until the transaction that cut the bounded runs off is in
// the sink and acknowledged, or one stream's copy until it is complete.
// It holds the work's lease as the owner that started it.
func RunTask(ctx context.Context, getenv func(string) string) error {
	env, err := ReadEnv(getenv)
	if err != nil {
		return err
	}
	slot, stream, owner := getenv(TaskSlotEnv), getenv(TaskStreamEnv), getenv(TaskOwnerEnv)
	if (slot == "") == (stream == "") {
		return fmt.Errorf("%s or %s: give exactly one (the wal and sync functions set it when they start the task; by hand: aws ecs run-task with a container override)", TaskSlotEnv, TaskStreamEnv)
	}
	if owner == "" {
		owner = replicate.NewRunID()
	}
	log := Logger(ctx, env.Pipeline)
	a, cat, err := Open(ctx, env, log)
	if err != nil {
		return err
	}
	a.OnTask = true
	if stream != "" {
		run, err := a.Sync(ctx, cat, app.RunOptions{Streams: []string{stream}, RunID: owner})
		if err != nil {
			return err
		}
		if _, err := Finish(ctx, a, env, log, run); err != nil {
			return err
		}
		for _, s := range run.Streams {
			if s.Stream == stream && s.Skipped != "" {
				return fmt.Errorf("stream %s: %s", stream, s.Skipped)
			}
			if s.Stream == stream && !s.CopyDone {
				return fmt.Errorf("stream %s: the copy did not complete (run %s, report %s)", stream, run.RunID, run.ReportKey)
			}
		}
		log.Info("task done: the copy is complete", "stream", stream, "rows", run.Rows())
		return nil
	}
	if slot != a.Cfg.SlotName {
		return fmt.Errorf("%s is %q but the pipeline's slot is %q", TaskSlotEnv, slot, a.Cfg.SlotName)
	}
	return drainTask(ctx, a, env, cat, owner)
}

// drainTask drains the slot until it is past the transaction the
// bounded runs ended inside (the slot bookmark records no partial
// transaction and has committed past it). Each drain reads to a fence
// written when it starts; one that ends early (the idle timeout while
// the server decodes the transaction) is followed by another, as long as
// each moves the slot on.
func drainTask(ctx context.Context, a *app.App, env Env, cat *catalog.Catalog, owner string) error {
	log := a.Log
	id := layout.SlotBookmarkID(a.Cfg.SlotName)
	first, err := a.Stores.Bookmarks.Get(ctx, id)
	if err != nil {
		return err
	}
	stuck := first.State.PartialCommitLSN
	prev := first.State
	busySince := time.Now()
	for {
		run, err := a.Drain(ctx, cat, app.RunOptions{RunID: owner})
		if err != nil {
			return err
		}
		if slotBusy(run) && time.Since(busySince) < slotBusyWait {
			// The run that was cut off may have left the server decoding
			// the transaction for a while: wait for the slot.
			log.Info("the slot is still active (the cut-off run's server process decodes on); waiting", "slot", a.Cfg.SlotName)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(5 * time.Second):
			}
			continue
		}
		if _, err := Finish(ctx, a, env, log, run); err != nil {
			return err
		}
		cur, err := a.Stores.Bookmarks.Get(ctx, id)
		if err != nil {
			return err
		}
		st := cur.State
		if st.PartialCommitLSN == 0 && (stuck == 0 || st.CommittedLSN > stuck) {
			log.Info("task done: the slot is past the transaction", "slot", a.Cfg.SlotName, "transaction", lsnText(stuck), "committed_lsn", lsnText(st.CommittedLSN), "report", run.ReportKey)
			return nil
		}
		if st.CommittedLSN == prev.CommittedLSN && st.PartialLSN == prev.PartialLSN {
			return fmt.Errorf("slot %s: the drain made no progress (committed %s, inside the transaction at %s up to %s); see run %s (%s)",
				a.Cfg.SlotName, lsnText(st.CommittedLSN), lsnText(st.PartialCommitLSN), lsnText(st.PartialLSN), run.RunID, run.ReportKey)
		}
		prev = st
	}
}

// slotBusyWait is how long the task waits for a slot another process
// still reads.
const slotBusyWait = 10 * time.Minute

// slotBusy says run failed only because the slot was active elsewhere.
func slotBusy(run *report.Run) bool {
	busy := false
	for _, s := range run.Streams {
		if s.Error == "" {
			continue
		}
		if !strings.Contains(s.Error, logical.ErrSlotActive.Error()) {
			return false
		}
		busy = true
	}
	return busy
}

func lsnText(lsn uint64) string { return fmt.Sprintf("%X/%X", lsn>>32, lsn&0xFFFFFFFF) }
