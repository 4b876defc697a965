package replicate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/report"
)

// Two cases never finish inside a bounded run (a Lambda invocation): a
// transaction too large to read within one run (a resumed drain reads it
// again from its start), and the copy of a table without a key or a view
// that needs more than one run (it cannot resume, so each run starts it
// again in a new version). Such a run hands the work, with its lease, to
// a task: the same engine without a deadline (functions/task).

// Tasker starts the long-running task on one piece of work and returns
// the task's id. awsstore's TaskLauncher does it with ECS RunTask.
type Tasker interface {
	StartTask(ctx context.Context, w TaskWork) (id string, err error)
}

// TaskWork is what a task is started for: the slot's drain or one
// stream's copy, and the lease owner it takes over (the run that started
// it holds the lease for it meanwhile, so scheduled runs skip the work).
type TaskWork struct {
	Slot   string
	Stream string
	Owner  string
}

// String names the work for reports and logs.
func (w TaskWork) String() string {
	if w.Slot != "" {
		return "slot " + w.Slot
	}
	return "stream " + w.Stream
}

// EscalateAfter is how many consecutive runs may end inside the same
// transaction before the slot is handed to the task.
const EscalateAfter = 2

// TaskStartTTL is how long a handed-off lease is held for the task to
// start and take it (Fargate pulls the image and starts within minutes);
// a task that never starts leaves the work to the next scheduled run.
const TaskStartTTL = 15 * time.Minute

// needsTaskCopy says whether a run that copied s (rep) was cut off in a
// copy that cannot resume: FULL_TABLE, or a LOG_BASED initial copy,
// without a key, unfinished when the deadline passed.
func needsTaskCopy(s *record.Stream, rep report.Stream, b Budget, now time.Time) bool {
	return (s.Method == layout.FullTable || s.Method == layout.LogBased) && len(s.KeyColumns) == 0 &&
		rep.Error == "" && !rep.CopyDone && b.Expired(now)
}

// startTask starts the task on w, keeping the lease h for it: the lease is
// extended first (so no scheduled run takes the work between), then
// RunTask; when that fails the lease is released as usual and the report
// says why. Without a Tasker the run only says what to do.
func (e *Engine) startTask(ctx context.Context, tasker Tasker, h *heldLease, w TaskWork, reason string) report.Task {
	t := report.Task{Work: w.String(), Reason: reason}
	if tasker == nil {
		e.log().Warn("work cannot finish inside a bounded run and no task is configured: run it without a deadline (pg2s3 sync from a machine) or deploy the stack with a vpc (the task runs on Fargate there)",
			"work", t.Work, "reason", reason)
		return t
	}
	if h != nil {
		if err := h.extend(TaskStartTTL); err != nil {
			t.Error = fmt.Sprintf("hold the lease for the task: %v", err)
			return t
		}
	}
	id, err := tasker.StartTask(ctx, w)
	if err != nil {
		t.Error = fmt.Sprintf("start the task: %v", err)
		e.log().Error("could not start the task", "work", t.Work, "err", err)
		return t
	}
	if h != nil {
		h.keep()
	}
	t.ID = id
	e.log().Info("started the task", "work", t.Work, "task", id, "reason", reason)
	return t
}

// escalateSlot reports where the slot stands and hands the slot to the
// task once EscalateAfter consecutive runs were cut off at the same
// transaction, or when the deadline cut off the initial copy of a
// LOG_BASED stream without a key (cutCopies): the task's drain, without a
// deadline, copies it in one pass. A run without a deadline (the task
// itself) never escalates.
func (e *Engine) escalateSlot(ctx context.Context, job DrainJob, h *heldLease, run *report.Run, cutCopies []string) error {
	bm, err := e.Bookmarks.Get(ctx, layout.SlotBookmarkID(job.Slot))
	if err != nil {
		return err
	}
	st := bm.State
	if run.Slot != nil {
		run.Slot.PartialCommitLSN, run.Slot.PartialRuns = positionText(st.PartialCommitLSN), st.PartialRuns
	}
	if job.Budget.Deadline.IsZero() || st.PartialRuns < EscalateAfter && len(cutCopies) == 0 {
		return nil
	}
	reason := fmt.Sprintf("%d runs in a row ended inside the transaction that commits at %s: it is too large to read within one run", st.PartialRuns, formatLSN(st.PartialCommitLSN))
	switch {
	case st.PartialRuns < EscalateAfter:
		reason = fmt.Sprintf("the initial copy of %s (without a key) cannot resume, and the deadline cut it off: the task copies it in one pass", strings.Join(cutCopies, ", "))
	case st.PartialCommitLSN == 0:
		reason = fmt.Sprintf("%d runs in a row ended before completing a transaction after %s: the next one is too large for the server to decode within one run", st.PartialRuns, formatLSN(st.CommittedLSN))
	}
	t := e.startTask(ctx, job.Tasker, h, TaskWork{Slot: job.Slot, Owner: run.RunID}, reason)
	if job.Tasker != nil {
		run.Tasks = append(run.Tasks, t)
	}
	return nil
}
