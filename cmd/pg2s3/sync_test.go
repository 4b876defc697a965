package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
