// Command sync is the Lambda function for one bounded run of the
// FULL_TABLE and INCREMENTAL streams of its schedule group.
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
		tasker, err := fn.Tasker(ctx, os.Getenv, env)
		if err != nil {
			return fn.Result{}, err
		}
		run, err := a.Sync(ctx, cat, app.RunOptions{Streams: ev.Streams, MaxBatches: ev.MaxBatches, Deadline: env.Deadline(ctx), Tasker: tasker})
		if err != nil {
			return fn.Result{}, err
		}
		return fn.Finish(ctx, a, env, log, run)
	})
}
