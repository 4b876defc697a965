package replicate_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/localstore"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/tables"
	"github.com/pg2s3/pg2s3/shared/replicate"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

var testPG *testenv.Postgres

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithPostgres(m, &testPG, testenv.PostgresOptions{}))
}

// fixture is a fresh database with local stores.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	dsn    string
	cfg    *config.Config
	conn   *connect.Conn // the engine's connection
	admin  *pgx.Conn     // the test's connection
	sink   *localstore.Dir
	bms    *localstore.File
	engine *replicate.Engine
}

func newFixture(t *testing.T, schema string) *fixture {
	t.Helper()
	ctx := context.Background()
	_, dsn, err := testPG.NewDatabase(ctx, "rep")
	if err != nil {
		t.Fatal(err)
	}
	if err := testenv.Exec(ctx, dsn, schema); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.FromURL(dsn)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := connect.Open(ctx, connect.FromConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sink, _ := localstore.NewDir(filepath.Join(dir, "out"))
	bms, _ := localstore.NewFile(filepath.Join(dir, "bookmarks.json"))
	t.Cleanup(func() { conn.Close(ctx); admin.Close(ctx) })
	f := &fixture{t: t, ctx: ctx, dsn: dsn, cfg: cfg, conn: conn, admin: admin, sink: sink, bms: bms}
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	f.engine = &replicate.Engine{Tables: tables.New(conn, tables.FromConfig(cfg)), Sink: sink, Bookmarks: bms, Log: quiet}
	return f
}

func (f *fixture) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.admin.Exec(f.ctx, sql, args...); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
}

// manifests reads every manifest of a stream, in key order.
func (f *fixture) manifests(stream string) []replicate.Manifest {
	f.t.Helper()
	keys, err := f.sink.List(f.ctx, stream+"/")
	if err != nil {
		f.t.Fatal(err)
	}
	var out []replicate.Manifest
	for _, k := range keys {
		if !strings.HasSuffix(k, ".manifest.json") {
			continue
		}
		b, err := f.sink.Get(f.ctx, k)
		if err != nil {
			f.t.Fatal(err)
		}
		var m replicate.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// rows decodes every row of the manifests' objects.
func (f *fixture) rows(ms []replicate.Manifest) []map[string]any {
	f.t.Helper()
	var out []map[string]any
	for _, m := range ms {
		for _, o := range m.Objects {
			out = append(out, readObject(f.t, filepath.Join(f.sink.Root(), o.Key))...)
		}
	}
	return out
}

func readObject(t *testing.T, path string) []map[string]any {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// ids returns the sorted "id" values of rows, as strings.
func ids(rows []map[string]any) []string {
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprint(r["id"]))
	}
	sort.Strings(out)
	return out
}
