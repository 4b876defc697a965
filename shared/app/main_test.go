package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/app/apptest"
	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/encode"
	"github.com/pg2s3/pg2s3/shared/replicate"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

var testPG *testenv.Postgres

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithPostgres(m, &testPG, testenv.PostgresOptions{}))
}

// pipeline is an App on local stores over a test database.
type pipeline struct {
	t   *testing.T
	app *app.App
	cat *catalog.Catalog
	dir string
}

// newDB creates a database with schema and returns its DSN and name.
func newDB(t *testing.T, schema string) (string, string) {
	t.Helper()
	ctx := context.Background()
	name, dsn, err := testPG.NewDatabase(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if err := testenv.Exec(ctx, dsn, schema); err != nil {
		t.Fatal(err)
	}
	return dsn, name
}

// newPipeline opens an app on dsn with extra config keys, discovers the
// database and selects streams with the given methods ("table": method).
func newPipeline(t *testing.T, dsn string, extra map[string]any, methods map[string]string) *pipeline {
	t.Helper()
	p := apptest.Open(t, dsn, extra, methods)
	return &pipeline{t: t, app: p.App, cat: p.Cat, dir: p.Dir}
}

// objects returns every data row of stream id that a manifest announces,
// in manifest order, decoded with numbers kept exact.
func (p *pipeline) rows(id string) []map[string]any { return p.objects(id, false) }

// logRows returns only the rows of id's log batches.
func (p *pipeline) logRows(id string) []map[string]any { return p.objects(id, true) }

func (p *pipeline) objects(id string, logOnly bool) []map[string]any {
	p.t.Helper()
	ctx := context.Background()
	keys, err := p.app.Stores.Sink.List(ctx, "")
	if err != nil {
		p.t.Fatal(err)
	}
	var out []map[string]any
	for _, k := range keys {
		if !strings.HasSuffix(k, ".manifest.json") {
			continue
		}
		b, _ := p.app.Stores.Sink.Get(ctx, k)
		var m replicate.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			p.t.Fatal(err)
		}
		for _, o := range m.Objects {
			if o.Stream != id && m.TapStreamID != id || logOnly && !strings.Contains(o.Key, "/wal-") {
				continue
			}
			body, err := p.app.Stores.Sink.Get(ctx, o.Key)
			if err != nil {
				p.t.Fatal(err)
			}
			out = append(out, readObject(p.t, o.Key, body)...)
		}
	}
	return out
}

func readObject(t *testing.T, key string, body []byte) []map[string]any {
	t.Helper()
	rows, err := encode.ReadObject(key, body)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// merge applies rows in (_sdc_lsn, _sdc_sequence) order by key "id", the
// way the README tells a loader to, and returns id -> row without _sdc_
// fields: a column a change did not carry (an unchanged TOASTed value)
// keeps its earlier value, deletes remove the row.
func merge(rows []map[string]any) map[string]map[string]any {
	sort.SliceStable(rows, func(i, j int) bool {
		li, lj := num(rows[i]["_sdc_lsn"]), num(rows[j]["_sdc_lsn"])
		if li != lj {
			return li < lj
		}
		return num(rows[i]["_sdc_sequence"]) < num(rows[j]["_sdc_sequence"])
	})
	out := map[string]map[string]any{}
	for _, r := range rows {
		id := fmt.Sprint(r["id"])
		if r["_sdc_deleted_at"] != nil {
			delete(out, id)
			continue
		}
		row := out[id]
		if row == nil {
			row = map[string]any{}
			out[id] = row
		}
		for k, v := range r {
			if !strings.HasPrefix(k, "_sdc_") {
				row[k] = v
			}
		}
	}
	return out
}

func num(v any) int64 {
	if n, ok := v.(json.Number); ok {
		i, _ := n.Int64()
		return i
	}
	return 0
}

// tableState reads the table as the output contract would encode it.
func tableState(t *testing.T, dsn, sql string) map[string]map[string]any {
	t.Helper()
	rows, err := testenv.RowsByID(context.Background(), dsn, sql)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestRunOnlyTheStreamsAsked: a run given streams (a schedule group, or
// --stream) syncs those and no other selected stream.
func TestRunOnlyTheStreamsAsked(t *testing.T) {
	dsn, _ := newDB(t, testenv.SampleSchema+testenv.SampleData(50))
	p := newPipeline(t, dsn, nil, map[string]string{"customers": "FULL_TABLE", "page_views": "FULL_TABLE", "products": "INCREMENTAL:updated_at"})
	for _, only := range [][]string{{"customers"}, {"page_views"}, {"customers", "products"}} {
		var ids []string
		for _, table := range only {
			ids = append(ids, streamID(p, table))
		}
		run, err := p.app.Sync(context.Background(), p.cat, app.RunOptions{Streams: ids})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range run.Streams {
			got = append(got, s.Stream)
		}
		slices.Sort(got)
		slices.Sort(ids)
		if !slices.Equal(got, ids) {
			t.Fatalf("asked for %v, the run synced %v", ids, got)
		}
	}
}
