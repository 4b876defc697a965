// Command discover is the Lambda function that refreshes the catalog in
// S3: it discovers the database, keeps the selections of the current
// catalog and reports new streams and columns.
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
	// A missing catalog is fine: this function creates it.
	fn.Serve(os.Getenv, true, func(ctx context.Context, a *app.App, cur *catalog.Catalog, _ fn.DiscoverEvent, env fn.Env, log *slog.Logger) (fn.Result, error) {
		changes, err := a.RefreshCatalog(ctx, cur, env.CatalogKey)
		if err != nil {
			return fn.Result{}, err
		}
		log.Info("catalog refreshed", "key", env.CatalogKey, "new_streams", len(changes.NewStreams), "new_columns", len(changes.NewColumns))
		return fn.Result{Message: changes.String()}, nil
	})
}
