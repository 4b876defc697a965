package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/encode"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// TestPluginAllowListAfterUpgrade is what a Stitch user on wal2json meets
// after a minor upgrade to 15.19+: the server's output_plugin_libraries no
// longer admits the plugin of the existing slot. The drain fails with the
// allow-list's fix (never REPLICATION), moves no bookmark and acknowledges
// nothing; status and check say so; once the plugin is allowed again, the
// next run delivers every change made meanwhile.
func TestPluginAllowListAfterUpgrade(t *testing.T) {
	ctx := context.Background()
	pg, err := testenv.StartPostgres(testenv.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	var n int
	if err := testenv.QueryValue(ctx, pg.DSN(""), "SELECT count(*) FROM pg_settings WHERE name = 'output_plugin_libraries'", &n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Skip("this server has no output_plugin_libraries (before 15.19)")
	}
	db, dsn, err := pg.NewDatabase(ctx, "allow")
	if err != nil {
		t.Fatal(err)
	}
	if err := testenv.Exec(ctx, dsn, `CREATE TABLE events (id int PRIMARY KEY, kind text);
INSERT INTO events SELECT g, 'before' FROM generate_series(1, 20) g`); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bmPath := filepath.Join(dir, "bm.json")
	cfgMap := map[string]any{"host": pg.Host, "port": pg.Port, "user": pg.User, "dbname": db, "sslmode": "disable",
		"password": "allowlist-secret-pw", "logical_plugin": "wal2json", "slot_name": "stitch_" + db,
		"sink":      map[string]any{"type": "local", "path": filepath.Join(dir, "out")},
		"bookmarks": map[string]any{"type": "file", "path": bmPath}}
	b, _ := json.Marshal(cfgMap)
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	catPath := selectStreams(t, cfg, dir, map[string]string{"events": "LOG_BASED"})
	if code, out, errOut := run("sync", "--config", cfg, "--catalog", catPath); code != 0 {
		t.Fatalf("first sync: %s%s", out, errOut)
	}

	// The upgrade: the allow-list back at the server's default.
	setAllowList(t, pg.DSN(""), "SET output_plugin_libraries = 'pgoutput', 'test_decoding'")
	waitSetting(t, pg.DSN(""), "pgoutput, test_decoding")
	if err := testenv.Exec(ctx, dsn, `INSERT INTO events SELECT g, 'during' FROM generate_series(21, 30) g; UPDATE events SET kind = 'changed' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	slotLSN := func() string {
		var s string
		if err := testenv.QueryValue(ctx, dsn, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'stitch_"+db+"'", &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	lsnBefore := slotLSN()
	bmBefore := readBookmarks(t, bmPath)

	code, out, errOut := run("sync", "--config", cfg, "--catalog", catPath)
	wantFix := "ALTER SYSTEM SET output_plugin_libraries = 'pgoutput', 'test_decoding', 'wal2json'; SELECT pg_reload_conf();"
	all := out + errOut
	if code == 0 || !strings.Contains(all, "output_plugin_libraries (pgoutput, test_decoding) does not list wal2json") ||
		!strings.Contains(all, wantFix) || !strings.Contains(all, "switch to logical_plugin pgoutput") ||
		strings.Contains(all, "REPLICATION") || strings.Contains(all, "allowlist-secret-pw") {
		t.Fatalf("drain refused by the allow-list: exit %d\n%s", code, all)
	}
	if got := readBookmarks(t, bmPath); got != bmBefore {
		t.Errorf("a refused drain moved bookmarks:\nbefore %s\nafter  %s", bmBefore, got)
	}
	if got := slotLSN(); got != lsnBefore {
		t.Errorf("a refused drain moved the slot: %s -> %s", lsnBefore, got)
	}

	code, out, _ = run("status", "--config", cfg, "--catalog", catPath)
	if code != 1 || !strings.Contains(out, "NEEDS ATTENTION") || !strings.Contains(out, "output_plugin_libraries") {
		t.Errorf("status after the refused drain: exit %d\n%s", code, out)
	}
	code, out, _ = run("check", "--config", cfg)
	if code == 0 || !strings.Contains(out, "FAIL the server's output_plugin_libraries (pgoutput, test_decoding) does not list wal2json") ||
		!strings.Contains(out, wantFix) || !strings.Contains(out, "switch to logical_plugin pgoutput") ||
		!strings.Contains(out, "PASS user postgres is a superuser") {
		t.Errorf("check with wal2json not allowed: exit %d\n%s", code, out)
	}

	// Allowed again: every change made while refused arrives.
	setAllowList(t, pg.DSN(""), "RESET output_plugin_libraries")
	waitSetting(t, pg.DSN(""), testenv.AllowedOutputPlugins)
	if code, out, errOut := run("sync", "--config", cfg, "--catalog", catPath); code != 0 {
		t.Fatalf("sync once allowed: %s%s", out, errOut)
	}
	changes := logKinds(t, filepath.Join(dir, "out"))
	for id := 21; id <= 30; id++ {
		if k := changes[fmt.Sprint(id)]; len(k) != 1 || k[0] != "during" {
			t.Errorf("id %d in the log: %v, want one insert", id, k)
		}
	}
	if k := changes["1"]; len(k) != 1 || k[0] != "changed" {
		t.Errorf("id 1 in the log: %v, want the update", k)
	}
	if code, out, _ := run("check", "--config", cfg); code != 0 || !strings.Contains(out, "PASS output_plugin_libraries (pgoutput, test_decoding, wal2json) allows wal2json") {
		t.Errorf("check once allowed: exit %d\n%s", code, out)
	}
}

// setAllowList runs ALTER SYSTEM <change> and reloads.
func setAllowList(t *testing.T, dsn, change string) {
	t.Helper()
	for _, sql := range []string{"ALTER SYSTEM " + change, "SELECT pg_reload_conf()"} {
		if err := testenv.Exec(context.Background(), dsn, sql); err != nil {
			t.Fatal(err)
		}
	}
}

// waitSetting waits for a reload to reach new sessions.
func waitSetting(t *testing.T, dsn, want string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		var v string
		if err := testenv.QueryValue(context.Background(), dsn, "SHOW output_plugin_libraries", &v); err == nil && v == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("output_plugin_libraries never became %q", want)
}

// readBookmarks returns the bookmark file's bookmarks (not its leases).
func readBookmarks(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Bookmarks json.RawMessage }
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return string(doc.Bookmarks)
}

// logKinds returns, by id, the kind of each change row the slot manifests
// under root name, in manifest order.
func logKinds(t *testing.T, root string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, r := range slotRows(t, root) {
		id := fmt.Sprint(r["id"])
		out[id] = append(out[id], fmt.Sprint(r["kind"]))
	}
	return out
}

// slotRows reads the change rows of every object the slot manifests under
// root name, in manifest order.
func slotRows(t *testing.T, root string) []map[string]any {
	t.Helper()
	ms, _ := filepath.Glob(filepath.Join(root, "_wal", "*", "*.manifest.json"))
	var rows []map[string]any
	for _, m := range ms {
		body, _ := os.ReadFile(m)
		var man struct{ Objects []struct{ Key string } }
		if err := json.Unmarshal(body, &man); err != nil {
			t.Fatal(err)
		}
		for _, o := range man.Objects {
			rows = append(rows, readObjectFile(t, root, o.Key)...)
		}
	}
	return rows
}

// readObjectFile reads the rows of the data object key under root.
func readObjectFile(t *testing.T, root, key string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, key))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := encode.ReadObject(key, data)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
