package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckCommand(t *testing.T) {
	db, configFor := cliDB(t, "cli_check", `
CREATE SCHEMA app;
CREATE TABLE app."Order Items" (id int PRIMARY KEY);
CREATE TABLE app.secret (id int PRIMARY KEY);
DROP ROLE IF EXISTS check_reader; CREATE ROLE check_reader LOGIN;
GRANT USAGE ON SCHEMA app TO check_reader; GRANT SELECT ON app."Order Items" TO check_reader;`)
	code, stdout, stderr := run("check", "--config", configFor(map[string]any{"password": "not-printed-pw"}))
	if code != 0 {
		t.Fatalf("superuser: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"PASS wal_level = logical", "PASS output plugin wal2json works", "PASS replication connection allowed", "PASS SELECT on all 2 tables"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("missing %q in:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout+stderr, "not-printed-pw") {
		t.Error("password printed")
	}

	// A catalog selecting both tables, checked as a user without REPLICATION
	// and without SELECT on one of them.
	discover := filepath.Join(t.TempDir(), "catalog.json")
	if code, _, stderr := run("discover", "--config", configFor(nil), "--out", discover); code != 0 {
		t.Fatalf("discover: %s", stderr)
	}
	b, _ := os.ReadFile(discover)
	selected := strings.ReplaceAll(string(b), `"selected-by-default": false`, `"selected": true, "selected-by-default": false`)
	if err := os.WriteFile(discover, []byte(selected), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = run("check", "--config", configFor(map[string]any{"user": "check_reader"}), "--catalog", discover)
	if code != 1 || !strings.Contains(stderr, "checks failed") {
		t.Fatalf("reader: exit %d, stderr %s", code, stderr)
	}
	for _, want := range []string{
		`PASS SELECT on "app"."Order Items"`,
		`FAIL no SELECT on "app"."secret" — fix: GRANT SELECT ON "app"."secret" TO <user>`,
		`FAIL user check_reader may not create replication slots`,
		`fix: ALTER ROLE "check_reader" REPLICATION`,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("missing %q in:\n%s", want, stdout)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if !strings.HasPrefix(line, "PASS ") && !strings.HasPrefix(line, "FAIL ") {
			t.Errorf("line %q is not PASS/FAIL", line)
		}
		if strings.HasPrefix(line, "FAIL ") && !strings.Contains(line, " — fix: ") {
			t.Errorf("FAIL line without a fix: %q", line)
		}
	}
	_ = db

	// Bad config: one line, non-zero.
	if code, _, stderr := run("check", "--config", configFor(map[string]any{"prot": 5432})); code == 0 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "prot: unknown key") {
		t.Errorf("bad config: exit %d %q", code, stderr)
	}
}
