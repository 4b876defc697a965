// Command sync is the Lambda function for one bounded run of the
// FULL_TABLE and INCREMENTAL streams of its schedule group.
package main

import (
	"context"
	"encoding/json"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/pg2s3/pg2s3/functions/internal/fn"
	"github.com/pg2s3/pg2s3/shared/app"
)

func main() {
	env, envErr := fn.ReadEnv(os.Getenv)
	lambda.Start(func(ctx context.Context, payload json.RawMessage) (fn.Result, error) {
		if envErr != nil {
			return fn.Result{}, envErr
		}
		var ev fn.SyncEvent
		if err := fn.Decode(payload, &ev); err != nil {
			return fn.Result{}, err
		}
		log := fn.Logger(ctx, env.Pipeline)
		a, cat, err := fn.Open(ctx, env, log)
		if err != nil {
			return fn.Result{}, err
		}
		run, err := a.SyncTables(ctx, cat, app.RunOptions{Streams: ev.Streams, MaxBatches: ev.MaxBatches, Deadline: env.Deadline(ctx)})
		if err != nil {
			return fn.Result{}, err
		}
		return fn.Summarize(log, a.Cfg.Pipeline, run)
	})
}
