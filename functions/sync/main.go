// Command sync is the Lambda function for one bounded run of the
// FULL_TABLE and INCREMENTAL streams of its schedule group, and for the
// steps of a parallel copy (plan, one piece of a range, activate) that the
// stack's state machine invokes. A scheduled run hands the copies of large
// tables to that state machine (fn.Handoff), and a copy cut off that
// cannot resume (a table without a key) to the task when the stack
// defines one (PG2S3_TASK_*).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/pg2s3/pg2s3/functions/internal/fn"
	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/catalog"
)

func main() {
	fn.Serve(os.Getenv, false, func(ctx context.Context, a *app.App, cat *catalog.Catalog, ev fn.SyncEvent, env fn.Env, log *slog.Logger) (fn.Result, error) {
		if ev.IsStep() {
			// A range is keyed and resumes piece by piece: no step needs
			// the task.
			return fn.RunStep(ctx, a, cat, ev, env, log)
		}
		handoff, err := fn.Handoff(ctx, os.Getenv, env)
		if err != nil {
			return fn.Result{}, err
		}
		tasker, err := fn.Tasker(ctx, os.Getenv, env)
		if err != nil {
			return fn.Result{}, err
		}
		// A stream whose lease another holder has (the task copying it) is
		// a skipped stream in the run, not an error.
		run, err := a.Sync(ctx, cat, app.RunOptions{Streams: ev.Streams, MaxBatches: ev.MaxBatches, Deadline: env.Deadline(ctx), Handoff: handoff, Tasker: tasker})
		if err != nil {
			return fn.Result{}, err
		}
		return fn.Finish(ctx, a, env, log, run)
	})
}
