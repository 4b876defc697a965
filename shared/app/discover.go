package app

import (
	"context"
	"fmt"

	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/pgsource"
)

// RefreshCatalog discovers the database, carries the selections of cur
// over and stores the result in the sink under key.
func (a *App) RefreshCatalog(ctx context.Context, cur *catalog.Catalog, key string) (catalog.Changes, error) {
	sess, err := pgsource.Open(ctx, a.Cfg)
	if err != nil {
		return catalog.Changes{}, err
	}
	defer sess.Close(context.WithoutCancel(ctx))
	fresh, err := sess.Discover(ctx)
	if err != nil {
		return catalog.Changes{}, err
	}
	merged, changes := catalog.Merge(cur, fresh)
	body, err := merged.Marshal()
	if err != nil {
		return changes, err
	}
	if err := a.Stores.Sink.Put(ctx, key, body, "application/json"); err != nil {
		return changes, fmt.Errorf("store catalog %s: %w", key, err)
	}
	return changes, nil
}
