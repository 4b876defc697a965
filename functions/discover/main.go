// Command discover is the Lambda function that refreshes the catalog in
// S3: it discovers the database, keeps the selections of the current
// catalog and reports new streams and columns.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/pg2s3/pg2s3/functions/internal/fn"
	"github.com/pg2s3/pg2s3/shared/record"
)

func main() {
	env, envErr := fn.ReadEnv(os.Getenv)
	lambda.Start(func(ctx context.Context, payload json.RawMessage) (fn.Result, error) {
		if envErr != nil {
			return fn.Result{}, envErr
		}
		var ev fn.DiscoverEvent
		if err := fn.Decode(payload, &ev); err != nil {
			return fn.Result{}, err
		}
		log := fn.Logger(ctx, env.Pipeline)
		a, cur, err := fn.Open(ctx, env, log)
		if err != nil && (a == nil || !errors.Is(err, record.ErrNotFound)) {
			return fn.Result{}, err // a missing catalog is fine: this creates it
		}
		changes, err := a.RefreshCatalog(ctx, cur, env.CatalogKey)
		if err != nil {
			return fn.Result{}, err
		}
		log.Info("catalog refreshed", "key", env.CatalogKey, "new_streams", len(changes.NewStreams), "new_columns", len(changes.NewColumns))
		return fn.Result{Message: changes.String()}, nil
	})
}
