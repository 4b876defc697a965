package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/testenv"
	"github.com/pg2s3/pg2s3/shared/warehouse"
)

// TestMaterialize runs pg2s3 materialize after syncs, into a local
// warehouse and into the S3-compatible test server, with the SQL catalog
// on the test PostgreSQL: the first run creates the tables from the
// copies, a second copy replaces one table's contents, an INCREMENTAL
// batch is upserted, and a run with nothing new commits nothing;
// pg2s3-iceberg show reads a table back. pg2s3 materialize runs the
// pg2s3-iceberg this package's tests build.
func TestMaterialize(t *testing.T) {
	icebergBin(t)
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
				showItems(t, db, catDSN, filepath.Join(dir, "warehouse"))
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

// showItems reads the materialized items table back with pg2s3-iceberg
// show: by its int key (id), which it need not print, up to --max-key;
// without --columns, every column of the table.
func showItems(t *testing.T, db, catDSN, wh string) {
	t.Helper()
	table := warehouse.AthenaName(db) + "." + warehouse.TableName(db+"-public-items")
	show := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append([]string{"show", "--catalog-dsn", catDSN, "--warehouse", wh}, append(args, table)...)
		if err := runIceberg(context.Background(), icebergBinary, args, &out, &errOut); err != nil {
			t.Fatalf("%s %s: %v\n%s", icebergBinary, strings.Join(args, " "), err, errOut.String())
		}
		return out.String()
	}
	// Arrow prints decimals without their trailing zeros.
	if got, want := show("--columns", "name,price", "--max-key", "3"), "name  price\ni1    1.5\ni2    3\ni3    4.5\n"; got != want {
		t.Errorf("show --columns name,price --max-key 3:\n%s\nwant\n%s", got, want)
	}
	if got := show("--max-key", "0"); !strings.HasPrefix(got, "id  name  price  _sdc_") || strings.Count(got, "\n") != 1 {
		t.Errorf("show --max-key 0: %q; want the header of every column and no row", got)
	}
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
