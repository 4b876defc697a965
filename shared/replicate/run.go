package replicate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/deadline"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/report"
)

// SyncJob is one bounded run over table streams.
type SyncJob struct {
	Pipeline string
	RunID    string
	Streams  []*record.Stream
	Budget   Budget
	// Leaser, when set, gives each stream to one run at a time.
	Leaser Leaser
	// Parallel, with more than one worker, copies large keyed streams in
	// ranges at the same time.
	Parallel Parallel
	// Failed are streams that failed before the run (stale catalog
	// entries); they are reported with the run.
	Failed []report.Stream
	// Handoff, when set, is asked first for each table stream, under the
	// stream's lease: when it handles the stream (hands its copy to
	// someone else), its report is the stream's and the run copies
	// nothing of it.
	Handoff func(ctx context.Context, s *record.Stream) (rep report.Stream, handled bool)
	// Tasker, when set, is handed a copy without a key that the
	// deadline cut off (with the stream's lease): it cannot resume.
	Tasker Tasker
}

// NewRunID returns a random run identifier (lease owner, report key).
func NewRunID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Sync syncs the FULL_TABLE and INCREMENTAL streams of job, least
// recently moved first so a long copy cannot starve the others across
// runs, and writes the run report to the sink.
func (e *Engine) Sync(ctx context.Context, job SyncJob) *report.Run {
	run := &report.Run{RunID: job.RunID, Pipeline: job.Pipeline, Kind: "sync", StartedAt: e.now().UTC(), StopReason: "done"}
	if run.RunID == "" {
		run.RunID = NewRunID()
	}
	run.Streams = append(run.Streams, job.Failed...)
	streams := e.fairOrder(ctx, job.Streams)
	for _, s := range streams {
		if s.Method == layout.LogBased {
			continue
		}
		if err := ctx.Err(); err != nil {
			// A run cancelled before it got to a stream (a store that never
			// answered held it until its hard stop) did not do its work:
			// each stream left is a failure, so alarms and retries see it.
			run.StopReason = "cancelled"
			run.Streams = append(run.Streams, report.Stream{Stream: s.ID, Method: s.Method, Error: "not started: the run's calls were cancelled first (" + err.Error() + "); it runs first next time"})
			continue
		}
		if job.Budget.Expired(e.now()) {
			run.StopReason = "deadline"
			run.Streams = append(run.Streams, report.Stream{Stream: s.ID, Method: s.Method, Error: "not started: the run's deadline passed first; it runs first next time"})
			continue
		}
		h, err := e.lease(ctx, job, "stream#"+s.ID)
		if errors.Is(err, bookmark.ErrLeaseHeld) {
			// Another run (or the task) copies it: nothing is wrong.
			run.Streams = append(run.Streams, report.Stream{Stream: s.ID, Method: s.Method, Skipped: err.Error()})
			continue
		}
		if err != nil {
			run.Streams = append(run.Streams, report.Stream{Stream: s.ID, Method: s.Method, Error: err.Error()})
			continue
		}
		rep, handled := report.Stream{}, false
		if job.Handoff != nil {
			rep, handled = job.Handoff(ctx, s)
		}
		if !handled {
			rep = e.copy(ctx, s, job.Budget, job.Parallel)
			if needsTaskCopy(s, rep, job.Budget, e.now()) {
				t := e.startTask(ctx, job.Tasker, h, TaskWork{Stream: s.ID, Owner: run.RunID},
					"the copy of a table without a key (or a view) cannot resume, and the deadline cut it off: the task copies it in one pass")
				if job.Tasker != nil {
					run.Tasks = append(run.Tasks, t)
				}
			}
		}
		h.release()
		run.Streams = append(run.Streams, rep)
		if job.Budget.Expired(e.now()) {
			run.StopReason = "deadline"
		}
	}
	e.Finish(ctx, run)
	return run
}

// lease holds a stream's lease for the run (none without a Leaser).
func (e *Engine) lease(ctx context.Context, job SyncJob, name string) (*heldLease, error) {
	if job.Leaser == nil {
		return nil, nil
	}
	return holdLease(ctx, job.Leaser, name, job.RunID, leaseTTL(job.Budget.Deadline, e.now()))
}

// leaseTTL outlives the run's deadline by a minute; without a deadline
// the lease is renewed while the run lives.
func leaseTTL(deadline, now time.Time) time.Duration {
	if deadline.IsZero() {
		return 5 * time.Minute
	}
	return deadline.Sub(now) + time.Minute
}

// fairOrder sorts streams by the time their bookmark last moved, streams
// never run first.
func (e *Engine) fairOrder(ctx context.Context, in []*record.Stream) []*record.Stream {
	out := append([]*record.Stream(nil), in...)
	all, err := e.Bookmarks.All(ctx)
	if err != nil {
		return out
	}
	sort.SliceStable(out, func(i, j int) bool {
		return all[out[i].ID].State.UpdatedAt.Before(all[out[j].ID].State.UpdatedAt)
	})
	return out
}

// Finish stamps the report and stores it under layout.RunReportKey.
func (e *Engine) Finish(ctx context.Context, run *report.Run) {
	run.FinishedAt = e.now().UTC()
	run.OnTask = e.OnTask
	if run.Failed() && run.StopReason == "done" {
		run.StopReason = "error"
	}
	key := layout.RunReportKey(run.StartedAt, run.Kind, run.RunID)
	body, _ := json.MarshalIndent(run, "", "  ")
	// The report is written even when the run's calls were cancelled, but
	// not for longer than cleanupGrace: the store may be what hangs.
	pctx, cancel := deadline.Cleanup(ctx, cleanupGrace)
	defer cancel()
	if err := e.Sink.Put(pctx, key, body, "application/json"); err != nil {
		e.log().Error("write run report", "key", key, "err", err)
		return
	}
	run.ReportKey = key
}
