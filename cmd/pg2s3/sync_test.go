package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/report"
)

// TestSyncFlow runs the commands a user runs, in order: discover, select,
// setup-slot, sync twice, reset, state export and import.
func TestSyncFlow(t *testing.T) {
	db, config := cliDB(t, "flow", `
CREATE TABLE items (id int PRIMARY KEY, name text, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE events (id bigint PRIMARY KEY, kind text);
CREATE TABLE "Order Items" ("select" int PRIMARY KEY, "a""b" text);
INSERT INTO items SELECT g, 'i' || g FROM generate_series(1, 50) g;
INSERT INTO events SELECT g, 'e' FROM generate_series(1, 30) g;
INSERT INTO "Order Items" VALUES (1, 'x'), (2, 'y');`)
	dir := t.TempDir()
	cfg := config(map[string]any{"batch_rows": 20,
		"sink":      map[string]any{"type": "local", "path": filepath.Join(dir, "out")},
		"bookmarks": map[string]any{"type": "file", "path": filepath.Join(dir, "bm.json")}})
	catPath := selectStreams(t, cfg, dir, map[string]string{"items": "INCREMENTAL:updated_at", "events": "LOG_BASED", "Order Items": "FULL_TABLE"})

	if code, out, errOut := run("setup-slot", "--config", cfg, "--catalog", catPath); code != 0 || !strings.Contains(out, "created") {
		t.Fatalf("setup-slot: %d %s %s", code, out, errOut)
	}
	code, out, errOut := run("sync", "--config", cfg, "--catalog", catPath)
	if code != 0 {
		t.Fatalf("sync: %s\n%s", out, errOut)
	}
	for _, want := range []string{db + "-public-items", "INCREMENTAL", db + "-public-Order Items", "copy done", "slot pg2s3_" + db} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if code, _, errOut := run("reset", "--config", cfg, "--catalog", catPath, "--stream", "nope"); code == 0 || !strings.Contains(errOut, db+"-public-items") {
		t.Fatalf("reset of an unknown stream: %d %s", code, errOut)
	}
	if code, out, _ := run("reset", "--config", cfg, "--catalog", catPath, "--stream", db+"-public-events"); code != 0 || !strings.Contains(out, "copies it again") {
		t.Fatalf("reset: %d %s", code, out)
	}
	code, state, errOut := run("state", "export", "--config", cfg)
	if code != 0 || !strings.Contains(state, `"last_replication_method": "INCREMENTAL"`) || !strings.Contains(state, `"replication_key": "updated_at"`) {
		t.Fatalf("state export: %s %s", state, errOut)
	}
	statePath := filepath.Join(dir, "state.json")
	os.WriteFile(statePath, []byte(state), 0o644)
	cfg2 := config(map[string]any{"sink": map[string]any{"type": "local", "path": filepath.Join(dir, "out2")},
		"bookmarks": map[string]any{"type": "file", "path": filepath.Join(dir, "bm2.json")}})
	if code, out, errOut := run("state", "import", "--config", cfg2, statePath); code != 0 || !strings.Contains(out, "3 streams") {
		t.Fatalf("state import: %s %s", out, errOut)
	}
	// A run after the import continues incrementally: nothing new to read.
	code, out, errOut = run("sync", "--config", cfg2, "--catalog", catPath, "--only", "tables", "--stream", db+"-public-items")
	if code != 0 || !strings.Contains(out, "INCREMENTAL") {
		t.Fatalf("sync after import: %s %s", out, errOut)
	}
	if code, _, errOut := run("sync", "--config", cfg, "--catalog", catPath, "--only", "both"); code != 2 || !strings.Contains(errOut, "--only") {
		t.Fatalf("bad --only: %d %s", code, errOut)
	}
}

// TestMaxRunSecondsBoundsTheWholeSync: max_run_seconds is one budget for
// a sync's table streams and its drain. A view that takes seconds to read
// spends it, so the drain that follows copies nothing and stops on the
// deadline instead of starting a budget of its own.
func TestMaxRunSecondsBoundsTheWholeSync(t *testing.T) {
	_, config := cliDB(t, "budget", `
CREATE VIEW slow AS SELECT g AS id, pg_sleep(0.002)::text AS nap FROM generate_series(1, 2000) g;
CREATE TABLE acct (id bigint PRIMARY KEY, n int);
INSERT INTO acct SELECT g, g FROM generate_series(1, 500) g;`)
	dir := t.TempDir()
	cfg := config(map[string]any{"max_run_seconds": 1, "batch_rows": 100,
		"sink":      map[string]any{"type": "local", "path": filepath.Join(dir, "out")},
		"bookmarks": map[string]any{"type": "file", "path": filepath.Join(dir, "bm.json")}})
	catPath := selectStreams(t, cfg, dir, map[string]string{"slow": "FULL_TABLE", "acct": "LOG_BASED"})
	start := time.Now()
	code, out, errOut := run("sync", "--config", cfg, "--catalog", catPath, "--json")
	if code != 0 {
		t.Fatalf("sync: %d %s\n%s", code, out, errOut)
	}
	took := time.Since(start)
	dec := json.NewDecoder(strings.NewReader(out))
	var runs []report.Run
	for dec.More() {
		var r report.Run
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("run report: %v\n%s", err, out)
		}
		runs = append(runs, r)
	}
	if len(runs) != 2 || runs[0].Kind != "sync" || runs[1].Kind != "wal" {
		t.Fatalf("want a table run and a drain, got %d reports:\n%s", len(runs), out)
	}
	if runs[0].StopReason != "deadline" {
		t.Fatalf("reading the slow view (4 s) within max_run_seconds 1 stopped on %q after %s", runs[0].StopReason, took)
	}
	if rows := runs[1].Rows(); rows != 0 || runs[1].StopReason != "deadline" {
		t.Errorf("the drain after the spent budget copied %d rows and stopped on %q; want 0 rows and deadline", rows, runs[1].StopReason)
	}
	t.Logf("sync took %s", took)
}
