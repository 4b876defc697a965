package app

import (
	"fmt"
	"time"

	"github.com/pg2s3/pg2s3/shared/report"
)

// TaskStatus is a long-running task a run started (see replicate.Tasker)
// and what became of it: the task runs as the run that started it (same
// run id, its report marked on_task), so its report tells.
type TaskStatus struct {
	Work      string    `json:"work"`
	Reason    string    `json:"reason"`
	ID        string    `json:"id,omitempty"`
	StartedAt time.Time `json:"started_at"`
	StartedBy string    `json:"started_by"` // the run id
	// State: "running (holds the lease)" until the task's report exists,
	// then "done" or "failed: ..."; "not started: ..." when RunTask failed.
	State string `json:"state"`
}

// statusTasks is at most this many newest tasks.
const statusTasks = 5

// taskStatus lists the newest tasks started in runs (oldest first), each
// with what its own report says.
func taskStatus(runs []*report.Run) []TaskStatus {
	onTask := map[string]*report.Run{}
	for _, r := range runs {
		if r.OnTask {
			onTask[r.RunID] = r // the newest wins
		}
	}
	var out []TaskStatus
	for _, r := range runs {
		for _, t := range r.Tasks {
			ts := TaskStatus{Work: t.Work, Reason: t.Reason, ID: t.ID, StartedAt: r.StartedAt, StartedBy: r.RunID, State: "running (holds the lease)"}
			switch done := onTask[r.RunID]; {
			case t.Error != "":
				ts.State = "not started: " + t.Error
			case done != nil && done.Failed():
				ts.State = fmt.Sprintf("failed (report %s)", done.ReportKey)
			case done != nil:
				ts.State = fmt.Sprintf("done at %s", done.FinishedAt.Format(time.RFC3339))
			}
			out = append(out, ts)
		}
	}
	if len(out) > statusTasks {
		out = out[len(out)-statusTasks:]
	}
	return out
}

// tasksStartersFound says the runs read hold, for each task's run among
// them, the run that started it (status reads on until they do).
func tasksStartersFound(runs []*report.Run) bool {
	started := map[string]bool{}
	for _, r := range runs {
		if !r.OnTask {
			started[r.RunID] = true
		}
	}
	for _, r := range runs {
		if r.OnTask && !started[r.RunID] {
			return false
		}
	}
	return true
}
