package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/testenv"
)

// TestMaterialize runs pg2s3 materialize after syncs, into a local
// warehouse and into the S3-compatible test server, with the SQL catalog
// on the test PostgreSQL: the first run creates the tables from the
// copies, a second copy replaces one table's contents, an INCREMENTAL
// batch is upserted, and a run with nothing new commits nothing.
func TestMaterialize(t *testing.T) {
	db, config := cliDB(t, "mat", `
CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(8,2));
CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz NOT NULL);
INSERT INTO items SELECT g, 'i' || g, g * 1.5 FROM generate_series(1, 30) g;
INSERT INTO events SELECT g, '2024-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, 10) g;`)
	dir := t.TempDir()
	cfg := config(map[string]any{"batch_rows": 7, "sink": map[string]any{"type": "local", "path": filepath.Join(dir, "out")},
		"bookmarks": map[string]any{"type": "file", "path": filepath.Join(dir, "bm.json")}})
	catPath := selectStreams(t, cfg, dir, map[string]string{"items": "FULL_TABLE", "events": "INCREMENTAL:at"})
	if code, o, e := run("sync", "--config", cfg, "--catalog", catPath); code != 0 {
		t.Fatalf("sync: %s %s", o, e)
	}
	s3srv, err := testenv.StartS3()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s3srv.Stop)
	if err := s3srv.CreateBucket("lake"); err != nil {
		t.Fatal(err)
	}
	items, events := db+"-public-items", db+"-public-events"
	for _, wh := range []struct {
		name string
		args []string
	}{
		{"local", []string{"--warehouse", filepath.Join(dir, "warehouse")}},
		{"s3", []string{"--warehouse", "s3://lake/warehouse", "--io", "s3.endpoint=" + s3srv.Endpoint(), "--io", "s3.region=" + testenv.DummyRegion,
			"--io", "s3.access-key-id=" + testenv.DummyAccessKeyID, "--io", "s3.secret-access-key=" + testenv.DummySecretAccessKey,
			"--io", "s3.force-virtual-addressing=false"}},
	} {
		t.Run(wh.name, func(t *testing.T) {
			_, catDSN, err := testPG.NewDatabase(context.Background(), "icecat")
			if err != nil {
				t.Fatal(err)
			}
			// Each warehouse has its own materializer bookmarks.
			wcfg := config(map[string]any{"batch_rows": 7, "sink": map[string]any{"type": "local", "path": filepath.Join(dir, "out")},
				"bookmarks": map[string]any{"type": "file", "path": filepath.Join(dir, "bm-"+wh.name+".json")}})
			copyBookmarks(t, filepath.Join(dir, "bm.json"), filepath.Join(dir, "bm-"+wh.name+".json"))
			args := append([]string{"materialize", "--config", wcfg, "--catalog", catPath, "--catalog-dsn", catDSN}, wh.args...)
			res := materializeRun(t, args)
			if r := res[items]; r.Replaced == 0 || r.Upserts != 30 || !r.CaughtUp {
				t.Fatalf("items: %+v", r)
			}
			if r := res[events]; r.Replaced == 0 || r.Upserts != 10 || r.Commits != 2 || r.Changes != 10 {
				t.Fatalf("events: %+v (a first batch replaces, the next is upserted)", r)
			}
			if wh.name == "local" {
				if m, _ := filepath.Glob(filepath.Join(dir, "warehouse", "*.db", "*", "metadata", "*.metadata.json")); len(m) == 0 {
					t.Fatalf("no table metadata under the warehouse directory")
				}
			}
			res = materializeRun(t, args)
			if res[items].Commits != 0 || res[events].Commits != 0 {
				t.Fatalf("idle run: %+v", res)
			}
		})
	}
}

type materializeResult struct {
	Stream   string `json:"stream"`
	Commits  int    `json:"commits"`
	Changes  int64  `json:"changes"`
	Upserts  int64  `json:"upserts"`
	Replaced int64  `json:"replaced_by_version"`
	CaughtUp bool   `json:"caught_up"`
}

func materializeRun(t *testing.T, args []string) map[string]materializeResult {
	t.Helper()
	code, o, e := run(args...)
	if code != 0 {
		t.Fatalf("materialize: %d %s %s", code, o, e)
	}
	out := map[string]materializeResult{}
	for _, line := range strings.Split(strings.TrimSpace(o), "\n") {
		var r materializeResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		out[r.Stream] = r
	}
	return out
}

func copyBookmarks(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
