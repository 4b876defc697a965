package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPrune: after three full copies, prune keeps the active version (and
// the stream with one version untouched), a dry run deletes nothing, and
// what remains still replays and reports.
func TestPrune(t *testing.T) {
	db, config := cliDB(t, "prune", `
CREATE TABLE items (id int PRIMARY KEY, name text);
CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());
INSERT INTO items SELECT g, 'i' || g FROM generate_series(1, 30) g;
INSERT INTO events SELECT g, now() FROM generate_series(1, 10) g;`)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	cfg := config(map[string]any{"batch_rows": 10, "sink": map[string]any{"type": "local", "path": out},
		"bookmarks": map[string]any{"type": "file", "path": filepath.Join(dir, "bm.json")}})
	catPath := selectStreams(t, cfg, dir, map[string]string{"items": "FULL_TABLE", "events": "INCREMENTAL:at"})
	for range 3 {
		if code, o, e := run("sync", "--config", cfg, "--catalog", catPath); code != 0 {
			t.Fatalf("sync: %s %s", o, e)
		}
	}
	items, events := db+"-public-items", db+"-public-events"
	versions := func(stream string) []string {
		entries, _ := os.ReadDir(filepath.Join(out, stream))
		var vs []string
		for _, e := range entries {
			vs = append(vs, e.Name())
		}
		return vs
	}
	if len(versions(items)) != 3 || len(versions(events)) != 1 {
		t.Fatalf("before: items %v, events %v", versions(items), versions(events))
	}
	newest := versions(items)[2]
	old := 2 // the two older versions' markers
	for _, v := range versions(items)[:2] {
		files, _ := os.ReadDir(filepath.Join(out, items, v))
		old += len(files)
	}
	code, o, e := run("prune", "--config", cfg, "--dry-run")
	if code != 0 || !strings.Contains(o, items+": keeping "+newest+"; would delete ") || strings.Contains(o, events) || len(versions(items)) != 3 {
		t.Fatalf("dry run: %d %s %s", code, o, e)
	}
	code, o, e = run("prune", "--config", cfg)
	if code != 0 || !strings.Contains(o, "deleted ") || !strings.Contains(o, fmt.Sprintf("(%d objects)", old)) {
		t.Fatalf("prune: %d %s %s", code, o, e)
	}
	if got := versions(items); len(got) != 1 || got[0] != newest || len(versions(events)) != 1 {
		t.Fatalf("after: items %v, events %v", got, versions(events))
	}
	markers, _ := filepath.Glob(filepath.Join(out, "versions", items, "*.json"))
	if len(markers) != 1 || filepath.Base(markers[0]) != newest+".json" {
		t.Fatalf("markers after prune: %v", markers)
	}
	if code, o, _ := run("prune", "--config", cfg); code != 0 || !strings.Contains(o, "nothing to prune") {
		t.Fatalf("second prune: %d %s", code, o)
	}
	// The kept version replays as before.
	if code, o, e := run("singer", "--config", cfg, "--stream", items); code != 0 || strings.Count(o, `"type":"RECORD"`) != 30 {
		t.Fatalf("singer after prune: %d %s", code, e)
	}
	if code, _, e := run("prune", "--config", cfg, "--keep", "0"); code != 2 || !strings.Contains(e, "--keep must be at least 1") {
		t.Fatalf("--keep 0: %d %s", code, e)
	}
}
