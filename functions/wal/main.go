// Command wal is the Lambda function for one bounded drain of the
// pipeline's replication slot (and the initial copies of new log-based
// streams).
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
	fn.Serve(os.Getenv, false, func(ctx context.Context, a *app.App, cat *catalog.Catalog, ev fn.WalEvent, env fn.Env, log *slog.Logger) (fn.Result, error) {
		tasker, err := fn.Tasker(ctx, os.Getenv, env)
		if err != nil {
			return fn.Result{}, err
		}
		run, err := a.Drain(ctx, cat, app.RunOptions{Streams: ev.Streams, Deadline: env.Deadline(ctx), Tasker: tasker})
		if r, held := fn.Held(err); held {
			return r, nil // the task (or another invocation) drains the slot
		}
		if err != nil {
			return fn.Result{}, err
		}
		return fn.Finish(ctx, a, env, log, run)
	})
}
