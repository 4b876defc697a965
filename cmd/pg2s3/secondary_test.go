package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/testenv"
)

// TestCheckSecondary: with use_secondary, check adds the replica's lines
// after the primary's; a replica it cannot reach fails with the fix.
func TestCheckSecondary(t *testing.T) {
	_, configFor := cliDB(t, "cli_secondary", `CREATE TABLE t (id int PRIMARY KEY);`)
	code, stdout, stderr := run("check", "--config", configFor(map[string]any{"use_secondary": "true", "secondary_host": "127.0.0.1", "secondary_port": testPG.Port}))
	if code != 0 {
		t.Fatalf("secondary is the primary: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"PASS server is a primary (not in recovery)\n",
		fmt.Sprintf("PASS secondary: connect to host=127.0.0.1 port=%d", testPG.Port),
		"PASS secondary: server is not in recovery"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("missing %q in:\n%s", want, stdout)
		}
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = run("check", "--config", configFor(map[string]any{"use_secondary": true, "secondary_host": "127.0.0.1", "secondary_port": port}))
	want := fmt.Sprintf("FAIL secondary: connect to 127.0.0.1:%d", port)
	if code != 1 || !strings.Contains(stdout, want) || !strings.Contains(stdout, "— fix: check host and port") || !strings.Contains(stderr, "1 of") {
		t.Fatalf("unreachable secondary: exit %d, want %q in\n%s%s", code, want, stdout, stderr)
	}
}

// use_secondary without secondary_host: one line naming the fix, and a
// sync writes nothing.
func TestUseSecondaryWithoutHost(t *testing.T) {
	_, configFor := cliDB(t, "cli_nosecondary", `CREATE TABLE t (id int PRIMARY KEY);`)
	dir := t.TempDir()
	good := configFor(map[string]any{"sink": map[string]any{"type": "local", "path": filepath.Join(dir, "out")},
		"bookmarks": map[string]any{"type": "file", "path": filepath.Join(dir, "bm.json")}})
	catPath := selectStreams(t, good, dir, map[string]string{"t": "FULL_TABLE"})
	bad := configFor(map[string]any{"use_secondary": true, "sink": map[string]any{"type": "local", "path": filepath.Join(dir, "out")},
		"bookmarks": map[string]any{"type": "file", "path": filepath.Join(dir, "bm.json")}})
	for _, args := range [][]string{{"check", "--config", bad}, {"sync", "--config", bad, "--catalog", catPath}} {
		code, stdout, stderr := run(args...)
		if code == 0 || stdout != "" || strings.Count(stderr, "\n") != 1 ||
			!strings.Contains(stderr, "use_secondary: true needs secondary_host (the replica's address): set secondary_host, or remove use_secondary") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", args[0], code, stdout, stderr)
		}
	}
	for _, p := range []string{"out", "bm.json"} {
		if _, err := os.Stat(filepath.Join(dir, p)); !os.IsNotExist(err) {
			t.Errorf("%s was written: %v", p, err)
		}
	}
}
