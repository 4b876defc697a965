// Package apptest opens the pipeline the app's and the materializer's
// tests start from: an App on a test database with a local sink and a
// bookmark file in a temporary directory, its catalog discovered and
// the tables under test selected.
package apptest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/config"
)

// Pipeline is an App over a directory of its own and its catalog.
type Pipeline struct {
	App *app.App
	Cat *catalog.Catalog
	Dir string // the sink is Dir/out, the bookmarks Dir/bm.json
}

// Open opens an App on dsn with extra config keys, discovers the
// database and selects the streams of methods: table name to method
// ("FULL_TABLE", or "INCREMENTAL:key" with its replication key).
func Open(t testing.TB, dsn string, extra map[string]any, methods map[string]string) *Pipeline {
	t.Helper()
	ctx := context.Background()
	base, err := config.FromURL(dsn)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	m := map[string]any{"host": base.Host, "port": base.Port, "user": base.User, "dbname": base.DBName, "sslmode": "disable",
		"sink": map[string]any{"type": "local", "path": filepath.Join(dir, "out")}, "bookmarks": map[string]any{"type": "file", "path": filepath.Join(dir, "bm.json")}}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	cfg, err := config.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.RefreshCatalog(ctx, nil, "_catalog/catalog.json"); err != nil {
		t.Fatal(err)
	}
	cat, err := a.StoredCatalog(ctx, "_catalog/catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range cat.Streams {
		if meth, ok := methods[s.TableName]; ok {
			parts := strings.SplitN(meth, ":", 2)
			s.SetTableMetadata("selected", true)
			s.SetTableMetadata("replication-method", parts[0])
			if len(parts) == 2 {
				s.SetTableMetadata("replication-key", parts[1])
			}
		}
	}
	return &Pipeline{App: a, Cat: cat, Dir: dir}
}
