package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// Env is one benchmark run's private cluster, database and scratch space.
type Env struct {
	PG   *testenv.Postgres
	DSN  string
	DB   string
	Dir  string // scratch: sinks, bookmark files, pg_recvlogical output
	Rows int    // BENCH_ROWS
	CLI  string // pg2s3 binary built for child-process runs
}

var (
	envOnce sync.Once
	env     *Env
	envErr  error
)

// DefaultRows is case 1's table size when BENCH_ROWS is unset.
const DefaultRows = 2_000_000

// BenchRows reads BENCH_ROWS.
func BenchRows() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_ROWS")); err == nil && n >= 1000 {
		return n
	}
	return DefaultRows
}

// Shared starts the cluster and builds the CLI once per process.
func Shared() (*Env, error) {
	envOnce.Do(func() { env, envErr = start() })
	return env, envErr
}

func start() (*Env, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "pg2s3-bench-")
	if err != nil {
		return nil, err
	}
	pg, err := testenv.StartPostgres(testenv.PostgresOptions{ExtraConf: []string{
		"max_wal_size = 4GB", "checkpoint_timeout = 30min", "autovacuum = off",
		"logical_decoding_work_mem = 64MB", "wal_sender_timeout = 0",
	}})
	if err != nil {
		return nil, err
	}
	e := &Env{PG: pg, Dir: dir, Rows: BenchRows()}
	if e.DB, e.DSN, err = pg.NewDatabase(ctx, "bench"); err != nil {
		e.Stop()
		return nil, err
	}
	e.CLI = filepath.Join(dir, "pg2s3")
	if out, err := exec.Command("go", "build", "-o", e.CLI, "github.com/pg2s3/pg2s3/cmd/pg2s3").CombinedOutput(); err != nil {
		e.Stop()
		return nil, fmt.Errorf("build pg2s3: %v: %s", err, out)
	}
	return e, nil
}

// Stop stops the cluster and removes the scratch space.
func (e *Env) Stop() {
	if e == nil {
		return
	}
	e.PG.Stop()
	os.RemoveAll(e.Dir)
}

// Pipeline is one pg2s3 configuration over the bench database, with its
// own sink directory and bookmark file, and a catalog selecting streams.
type Pipeline struct {
	Name    string
	Dir     string
	CfgPath string
	CatPath string
	App     *app.App
	Cat     *catalog.Catalog
}

// Selection is a stream's replication method ("FULL_TABLE",
// "INCREMENTAL:updated_at", "LOG_BASED") by table name.
type Selection map[string]string

// NewPipeline writes a config (base keys plus extra) and a catalog that
// selects sel, and opens an App on them.
func (e *Env) NewPipeline(ctx context.Context, name string, extra map[string]any, sel Selection) (*Pipeline, error) {
	base, err := config.FromURL(e.DSN)
	if err != nil {
		return nil, err
	}
	p := &Pipeline{Name: name, Dir: filepath.Join(e.Dir, name)}
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return nil, err
	}
	m := map[string]any{"host": base.Host, "port": base.Port, "user": base.User, "dbname": base.DBName, "sslmode": "disable",
		"pipeline": name, "batch_rows": 100000,
		"sink":      map[string]any{"type": "local", "path": filepath.Join(p.Dir, "out")},
		"bookmarks": map[string]any{"type": "file", "path": filepath.Join(p.Dir, "bookmarks.json")}}
	for k, v := range extra {
		m[k] = v
	}
	body, _ := json.Marshal(m)
	p.CfgPath = filepath.Join(p.Dir, "config.json")
	if err := os.WriteFile(p.CfgPath, body, 0o600); err != nil {
		return nil, err
	}
	cfg, err := config.Load(p.CfgPath)
	if err != nil {
		return nil, err
	}
	if p.App, err = app.Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		return nil, err
	}
	if _, err := p.App.RefreshCatalog(ctx, nil, layout.CatalogKey); err != nil {
		return nil, err
	}
	raw, err := p.App.Stores.Sink.Get(ctx, layout.CatalogKey)
	if err != nil {
		return nil, err
	}
	if p.Cat, err = catalog.Parse(raw); err != nil {
		return nil, err
	}
	found := 0
	for _, s := range p.Cat.Streams {
		meth, ok := sel[s.TableName]
		s.SetTableMetadata("selected", ok)
		if !ok {
			continue
		}
		found++
		method, key, _ := strings.Cut(meth, ":")
		s.SetTableMetadata("replication-method", method)
		if key != "" {
			s.SetTableMetadata("replication-key", key)
		}
	}
	if found != len(sel) {
		return nil, fmt.Errorf("pipeline %s: %d of %d selected tables found by discovery", name, found, len(sel))
	}
	cat, err := p.Cat.Marshal()
	if err != nil {
		return nil, err
	}
	p.CatPath = filepath.Join(p.Dir, "catalog.json")
	return p, os.WriteFile(p.CatPath, cat, 0o600)
}

// StreamID returns the tap_stream_id of table.
func (p *Pipeline) StreamID(table string) string {
	for _, s := range p.Cat.Streams {
		if s.TableName == table {
			return s.TapStreamID
		}
	}
	return ""
}
