package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// TestSIGKILLDuringParallelCopy copies a 1M-row table with sync --parallel 4
// while the process (every worker at once) is killed at random moments and
// started again: the copy completes with every key exactly once in its
// version, completed by one manifest and activated by one marker, written
// after the last range's batches.
func TestSIGKILLDuringParallelCopy(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "pg2s3")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	const rows = 1_000_000
	_, config := cliDB(t, "pkill", fmt.Sprintf(`CREATE TABLE big (id bigint PRIMARY KEY, payload text);
INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, %d) g; ANALYZE big;`, rows))
	dir := t.TempDir()
	cfg := config(map[string]any{"batch_rows": 25000, "rows_per_range": 100000,
		"sink":      map[string]any{"type": "local", "path": filepath.Join(dir, "out")},
		"bookmarks": map[string]any{"type": "file", "path": filepath.Join(dir, "bm.json")}})
	catPath := selectStreams(t, cfg, dir, map[string]string{"big": "FULL_TABLE"})
	args := []string{"sync", "--config", cfg, "--catalog", catPath, "--parallel", "4", "--json"}
	r := rand.New(rand.NewSource(11))
	kills := 0
	for i := 0; i < 8; i++ {
		cmd := exec.Command(bin, args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(150+r.Intn(500)) * time.Millisecond)
		if cmd.Process.Signal(syscall.SIGKILL) == nil {
			kills++
		}
		cmd.Wait()
	}
	done := false
	for i := 0; i < 5 && !done; i++ {
		code, out, errOut := run(args...)
		if code != 0 {
			t.Fatalf("run after kills: %s %s", out, errOut)
		}
		var rep struct {
			Streams []struct {
				CopyDone bool `json:"copy_done"`
			}
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Streams) != 1 {
			t.Fatalf("report %s: %v", out, err)
		}
		done = rep.Streams[0].CopyDone
	}
	if !done {
		t.Fatal("the parallel copy did not complete in 5 runs after the kills")
	}
	// The newest version is the one the last runs completed (a process
	// killed after an earlier completion may have begun the next one).
	root := filepath.Join(dir, "out")
	versions, _ := filepath.Glob(filepath.Join(root, "*-public-big", "v*"))
	slices.Sort(versions)
	newest := versions[len(versions)-1]
	ms, _ := filepath.Glob(filepath.Join(newest, "_*.manifest.json"))
	seen := make([]byte, rows+1)
	var complete []string
	var lastBatch string
	for _, m := range ms {
		body, _ := os.ReadFile(m)
		var man struct {
			VersionComplete bool   `json:"version_complete"`
			ExtractedAt     string `json:"extracted_at"`
			Objects         []struct{ Key string }
		}
		if err := json.Unmarshal(body, &man); err != nil {
			t.Fatal(err)
		}
		if man.VersionComplete {
			complete = append(complete, man.ExtractedAt)
			continue
		}
		lastBatch = max(lastBatch, man.ExtractedAt)
		for _, o := range man.Objects {
			for _, row := range readObjectFile(t, root, o.Key) {
				id, _ := strconv.Atoi(fmt.Sprint(row["id"]))
				if id < 1 || id > rows {
					t.Fatalf("row id %v", row["id"])
				}
				seen[id]++
			}
		}
	}
	for id := 1; id <= rows; id++ {
		if seen[id] != 1 {
			t.Fatalf("key %d written %d times (after %d kills)", id, seen[id], kills)
		}
	}
	markers, _ := filepath.Glob(filepath.Join(root, "versions", "*-public-big", filepath.Base(newest)+".json"))
	if len(complete) != 1 || len(markers) != 1 || complete[0] < lastBatch {
		t.Fatalf("completing manifests %q (last batch %s), markers %q: want one completion after the last range's batch and one marker", complete, lastBatch, markers)
	}
	t.Logf("%d SIGKILLs of 4 workers; %d keys each written once in %s (%d versions begun); one activation", kills, rows, filepath.Base(newest), len(versions))
}
