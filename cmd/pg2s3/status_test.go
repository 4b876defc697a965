package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

func TestStatus(t *testing.T) {
	db, config := cliDB(t, "status", `
CREATE TABLE items (id int PRIMARY KEY, name text, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE events (id bigint PRIMARY KEY, kind text);
CREATE TABLE gone (id int PRIMARY KEY);
INSERT INTO items SELECT g, 'i' || g, now() + g * interval '1s' FROM generate_series(1, 50) g;
INSERT INTO events SELECT g, 'e' FROM generate_series(1, 30) g;`)
	dir := t.TempDir()
	stores := map[string]any{"sink": map[string]any{"type": "local", "path": filepath.Join(dir, "out")},
		"bookmarks": map[string]any{"type": "file", "path": filepath.Join(dir, "bm.json")}}
	cfg := config(stores)
	catPath := selectStreams(t, cfg, dir, map[string]string{"items": "INCREMENTAL:updated_at", "events": "LOG_BASED", "gone": "FULL_TABLE"})
	id := func(table string) string { return db + "-public-" + table }

	// Before any run: every selected stream is listed, nothing is wrong.
	code, out, errOut := run("status", "--config", cfg, "--catalog", catPath)
	if code != 0 || strings.Count(out, "never") < 3 || !strings.Contains(out, "status: ok") {
		t.Fatalf("status before any run: %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := run("sync", "--config", cfg, "--catalog", catPath); code != 0 {
		t.Fatalf("sync: %s %s", out, errOut)
	}
	code, out, errOut = run("status", "--config", cfg, "--catalog", catPath)
	if code != 0 {
		t.Fatalf("status after a good run: %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{id("items"), "updated_at >= ", id("events"), "copy done; log from ", id("gone"), "slot pg2s3_" + db, "retains ", "last drain: ", "status: ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}

	// A stream that fails, and a slot holding more WAL than allowed.
	ctx := context.Background()
	if err := testenv.Exec(ctx, testPG.DSN(db), `DROP TABLE gone; INSERT INTO events SELECT g, repeat('x', 500) FROM generate_series(1000, 5000) g`); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := run("sync", "--config", cfg, "--catalog", catPath, "--only", "tables"); code == 0 {
		t.Fatal("sync of a dropped table succeeded")
	}
	tight := config(map[string]any{"sink": stores["sink"], "bookmarks": stores["bookmarks"], "max_retained_wal_mb": 1})
	code, out, _ = run("status", "--config", tight, "--catalog", catPath)
	// The last run of items read again only the row at its bookmark (>=,
	// as tap-postgres does): the row count is that run's, not the first's.
	itemsLine := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(id("items")) + `\s.*$`).FindString(out)
	if code != 1 || !strings.Contains(out, "NEEDS ATTENTION (2)") || !strings.Contains(out, "stream "+id("gone")+" failed") ||
		!strings.Contains(itemsLine, " 1  ok") ||
		!strings.Contains(out, "max_retained_wal_mb") {
		t.Fatalf("status with a failed stream and a full slot: %d\n%s", code, out)
	}
	code, out, _ = run("status", "--config", tight, "--catalog", catPath, "--json")
	var st app.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 1 || len(st.Attention) != 2 || st.Slot == nil || st.Slot.RetainedBytes < 1<<20 {
		t.Fatalf("status --json: %d %v\n%s", code, err, out)
	}

	// The database down: the stores still answer, the slot is unknown.
	down := config(map[string]any{"sink": stores["sink"], "bookmarks": stores["bookmarks"], "port": 1, "password": "s3cret-pw"})
	code, out, errOut = run("status", "--config", down, "--catalog", catPath)
	if code != 1 || !strings.Contains(out, "cannot read slot") || !strings.Contains(out, id("items")) || strings.Contains(out+errOut, "s3cret-pw") {
		t.Fatalf("status with the database down: %d\n%s%s", code, out, errOut)
	}
}
