package app

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/tables"
	"github.com/pg2s3/pg2s3/shared/report"
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

// StoredCatalog reads and parses the catalog stored in the sink under key.
func (a *App) StoredCatalog(ctx context.Context, key string) (*catalog.Catalog, error) {
	body, err := a.Stores.Sink.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read catalog %s: %w", key, err)
	}
	cat, err := catalog.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", key, err)
	}
	return cat, nil
}

// RecordNewColumns adds to the catalog stored under key the columns that
// run met in the tables and the catalog does not list yet (added after
// discovery; report.Stream.NewColumns), so discover and the next runs show
// them as the run treated them: selected, unless the table's
// select-new-columns is false. It reads the stored catalog again just
// before writing it, so a selection changed meanwhile is kept, and returns
// the "<tap_stream_id>.<column>" names it recorded.
func (a *App) RecordNewColumns(ctx context.Context, run *report.Run, key string) ([]string, error) {
	found := map[string][]string{}
	for _, s := range run.Streams {
		if len(s.NewColumns) > 0 {
			found[s.Stream] = s.NewColumns
		}
	}
	if len(found) == 0 {
		return nil, nil
	}
	cat, err := a.StoredCatalog(ctx, key)
	if err != nil {
		return nil, err
	}
	var todo []*catalog.Stream
	for _, s := range cat.Streams {
		for _, c := range found[s.TapStreamID] {
			if s.ColumnMetadata(c) == nil {
				todo = append(todo, s)
				break
			}
		}
	}
	if len(todo) == 0 {
		return nil, nil
	}
	conn, err := connect.Open(ctx, connect.FromConfig(a.Cfg))
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	src := tables.New(conn, tables.FromConfig(a.Cfg))
	var recorded []string
	for _, s := range todo {
		fresh, err := src.DiscoverTable(ctx, s.TapStreamID, s.SchemaName(), s.TableName)
		if err != nil {
			return recorded, err
		}
		for _, c := range s.AddColumns(fresh, found[s.TapStreamID]) {
			recorded = append(recorded, s.TapStreamID+"."+c)
		}
	}
	if len(recorded) == 0 {
		return nil, nil
	}
	body, err := cat.Marshal()
	if err != nil {
		return nil, err
	}
	if err := a.Stores.Sink.Put(ctx, key, body, "application/json"); err != nil {
		return nil, fmt.Errorf("store catalog %s: %w", key, err)
	}
	return recorded, nil
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
