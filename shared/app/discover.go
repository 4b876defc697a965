package app

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/tables"
)

// RefreshCatalog discovers the database, carries the selections of cur
// over and stores the result in the sink under key.
func (a *App) RefreshCatalog(ctx context.Context, cur *catalog.Catalog, key string) (catalog.Changes, error) {
	fresh, err := a.discover(ctx)
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

// StreamChoice is one stream's method in an inline selection (the stack's
// catalog.streams, handed to the functions as PG2S3_SELECTION).
type StreamChoice struct {
	ReplicationMethod string `json:"replication_method"`
	ReplicationKey    string `json:"replication_key,omitempty"`
}

// SelectedCatalog discovers the database and selects the streams of an
// inline selection, so a pipeline can run without a catalog file.
func (a *App) SelectedCatalog(ctx context.Context, choices map[string]StreamChoice) (*catalog.Catalog, error) {
	cat, err := a.discover(ctx)
	if err != nil {
		return nil, err
	}
	return applyChoices(cat, choices)
}

// discover reads the catalog of the config's database.
func (a *App) discover(ctx context.Context) (*catalog.Catalog, error) {
	conn, err := connect.Open(ctx, connect.FromConfig(a.Cfg))
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return tables.New(conn, tables.FromConfig(a.Cfg)).Discover(ctx)
}

func applyChoices(cat *catalog.Catalog, choices map[string]StreamChoice) (*catalog.Catalog, error) {
	var missing []string
	for id, c := range choices {
		s := cat.Stream(id)
		if s == nil {
			missing = append(missing, id)
			continue
		}
		s.SetTableMetadata("selected", true)
		s.SetTableMetadata("replication-method", c.ReplicationMethod)
		if c.ReplicationKey != "" {
			s.SetTableMetadata("replication-key", c.ReplicationKey)
		}
	}
	if len(missing) > 0 {
		var known []string
		for _, s := range cat.Streams {
			known = append(known, s.TapStreamID)
		}
		sort.Strings(missing)
		return nil, fmt.Errorf("selected streams not in the database: %s; streams there: %s", strings.Join(missing, ", "), strings.Join(known, ", "))
	}
	return cat, nil
}
