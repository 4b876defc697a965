package main

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// TestSIGKILLDuringDrain kills a real pg2s3 process at random moments of a
// WAL drain; later runs complete it, and every change is written once.
func TestSIGKILLDuringDrain(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "pg2s3")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	db, config := cliDB(t, "kill", "CREATE TABLE ev (id bigint PRIMARY KEY, payload text);")
	dir := t.TempDir()
	cfg := config(map[string]any{"batch_rows": 2000,
		"sink":      map[string]any{"type": "local", "path": filepath.Join(dir, "out")},
		"bookmarks": map[string]any{"type": "file", "path": filepath.Join(dir, "bm.json")}})
	_, out, _ := run("discover", "--config", cfg)
	cat, err := catalog.Parse([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range cat.Streams {
		s.SetTableMetadata("selected", true)
		s.SetTableMetadata("replication-method", "LOG_BASED")
	}
	b, _ := cat.Marshal()
	catPath := filepath.Join(dir, "catalog.json")
	os.WriteFile(catPath, b, 0o644)
	if code, _, errOut := run("sync", "--config", cfg, "--catalog", catPath); code != 0 {
		t.Fatal(errOut)
	}
	// Rounds of writes, each drained by processes killed at random moments.
	rounds, killsPerRound := 5, 10 // 50 kills; KILL_ROUNDS=n for a longer run
	if n, err := strconv.Atoi(os.Getenv("KILL_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	const perRound = 24000
	rows := rounds * perRound
	r := rand.New(rand.NewSource(7))
	kills := 0
	for i := 0; i < rounds*killsPerRound; i++ {
		if i%killsPerRound == 0 {
			from := i/killsPerRound*perRound + 1
			sql := fmt.Sprintf("INSERT INTO ev SELECT g, repeat('p', 100) FROM generate_series(%d, %d) g", from, from+perRound-1)
			if err := testenv.Exec(t.Context(), testPG.DSN(db), sql); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(bin, "sync", "--config", cfg, "--catalog", catPath, "--only", "wal")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(50+r.Intn(300)) * time.Millisecond)
		if cmd.Process.Signal(syscall.SIGKILL) == nil {
			kills++
		}
		cmd.Wait()
	}
	for i := 0; i < 10; i++ {
		code, out, errOut := run("sync", "--config", cfg, "--catalog", catPath, "--only", "wal")
		if code != 0 {
			t.Fatalf("run after kills: %s %s", out, errOut)
		}
		if strings.Contains(out, " 0 changes") {
			break
		}
	}
	seen := logIDs(t, filepath.Join(dir, "out"))
	if len(seen) != rows {
		t.Fatalf("%d distinct changes after %d kills, want %d", len(seen), kills, rows)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("change of row %s written %d times", id, n)
		}
	}
	t.Logf("%d SIGKILLs survived; %d changes checked, none lost or doubled", kills, rows)
}

// logIDs counts the ids of the change rows that slot manifests name.
func logIDs(t *testing.T, root string) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for _, r := range slotRows(t, root) {
		seen[fmt.Sprint(r["id"])]++
	}
	return seen
}
