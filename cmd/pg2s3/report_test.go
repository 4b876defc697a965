package main

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/report"
	"github.com/pg2s3/pg2s3/shared/reportview"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// TestReportCommand syncs a database four times (a table sync and a log
// drain, twice; the second pair fails on a dropped table whose name is
// markup) and reads the reports back as a table, JSON and a page.
func TestReportCommand(t *testing.T) {
	db, config := cliDB(t, "report", `
CREATE TABLE items (id int PRIMARY KEY, name text);
CREATE TABLE events (id bigint PRIMARY KEY, kind text);
CREATE TABLE "<script>alert(1)" (id int PRIMARY KEY);
INSERT INTO items SELECT g, 'i' || g FROM generate_series(1, 40) g;
INSERT INTO events SELECT g, 'e' FROM generate_series(1, 25) g;`)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	cfg := config(map[string]any{"batch_rows": 20,
		"sink":      map[string]any{"type": "local", "path": out},
		"bookmarks": map[string]any{"type": "file", "path": filepath.Join(dir, "bm.json")}})
	hostile := db + "-public-<script>alert(1)"

	// No reports yet: said plainly, exit 0, nothing created.
	code, stdout, stderr := run("report", "--config", cfg)
	if code != 0 || !strings.Contains(stdout, "no run reports under "+out+"/_runs/: run pg2s3 sync first") {
		t.Fatalf("report without runs: %d %q %q", code, stdout, stderr)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("report created the sink directory (%v)", err)
	}
	if code, stdout, _ := run("report", "--config", cfg, "--json"); code != 0 || strings.TrimSpace(stdout) != "[]" {
		t.Errorf("--json without runs: %d %q", code, stdout)
	}

	catPath := selectStreams(t, cfg, dir, map[string]string{"items": "FULL_TABLE", "events": "LOG_BASED", "<script>alert(1)": "FULL_TABLE"})
	if code, _, errOut := run("setup-slot", "--config", cfg, "--catalog", catPath); code != 0 {
		t.Fatalf("setup-slot: %s", errOut)
	}
	if code, out, errOut := run("sync", "--config", cfg, "--catalog", catPath); code != 0 {
		t.Fatalf("first sync: %s %s", out, errOut)
	}
	if err := testenv.Exec(t.Context(), testPG.DSN(db), `INSERT INTO events VALUES (100, 'late'); DROP TABLE "<script>alert(1)"`); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := run("sync", "--config", cfg, "--catalog", catPath); code != 1 {
		t.Fatalf("a sync with a dropped table should fail: %d\n%s", code, out)
	}

	// The table.
	code, stdout, stderr = run("report", "--config", cfg)
	if code != 0 {
		t.Fatalf("report: %d %s", code, stderr)
	}
	for _, want := range []string{"4 runs from ", "(2 sync, 2 wal)", "2 runs with errors", "reports in " + out + "/_runs/",
		db + "-public-items", "FULL_TABLE", "LOG_BASED", "stopped: error  <-- errors", "ERROR", "slot pg2s3_" + db} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, stdout)
		}
	}
	for _, l := range strings.Split(stdout, "\n") {
		if len([]rune(l)) > reportview.TableWidth && !strings.Contains(l, "reports in ") {
			t.Errorf("line wider than %d columns: %q", reportview.TableWidth, l)
		}
	}

	// JSON: the stored reports, oldest first, with the error.
	code, stdout, _ = run("report", "--config", cfg, "--json")
	var runs []report.Run
	if err := json.Unmarshal([]byte(stdout), &runs); code != 0 || err != nil {
		t.Fatalf("--json: %d %v\n%s", code, err, stdout)
	}
	var kinds []string
	var failed *report.Run // the first run with errors
	for i := range runs {
		kinds = append(kinds, runs[i].Kind)
		if runs[i].Failed() && failed == nil {
			failed = &runs[i]
		}
	}
	if strings.Join(kinds, " ") != "sync wal sync wal" || failed == nil || failed.Kind != "sync" || failed.StopReason != "error" {
		t.Fatalf("runs %v, failed %+v", kinds, failed)
	}
	var errText string
	for _, s := range failed.Streams {
		if s.Stream == hostile {
			errText = s.Error
		}
	}
	if errText == "" {
		t.Fatalf("the failed run has no error for %s: %+v", hostile, failed.Streams)
	}
	if runs[3].Slot == nil || runs[3].Slot.Changes < 1 || !strings.Contains(stdout, `"retained_wal_bytes"`) {
		t.Errorf("the second drain's slot: %+v", runs[3].Slot)
	}

	// Filters: --last, --stream, --since.
	code, stdout, _ = run("report", "--config", cfg, "--json", "--last", "1")
	if json.Unmarshal([]byte(stdout), &runs); code != 0 || len(runs) != 1 || runs[0].Kind != "wal" {
		t.Errorf("--last 1: %d %s", code, stdout)
	}
	code, stdout, _ = run("report", "--config", cfg, "--json", "--stream", db+"-public-events")
	if json.Unmarshal([]byte(stdout), &runs); code != 0 || len(runs) != 2 || len(runs[0].Streams) != 1 || runs[1].Streams[0].Stream != db+"-public-events" {
		t.Errorf("--stream events: %d %s", code, stdout)
	}
	if code, stdout, _ := run("report", "--config", cfg, "--since", "1h"); code != 0 || !strings.Contains(stdout, "4 runs") {
		t.Errorf("--since 1h: %d %s", code, stdout)
	}
	if code, stdout, _ := run("report", "--config", cfg, "--stream", "nope"); code != 0 || !strings.Contains(stdout, "no run reports under "+out+"/_runs/ (streams nope)") {
		t.Errorf("--stream nope: %d %q", code, stdout)
	}

	// The page.
	page := filepath.Join(dir, "report.html")
	if code, _, stderr := run("report", "--config", cfg, "--html", page); code != 0 || !strings.Contains(stderr, "wrote "+page+" (4 runs)") {
		t.Fatalf("--html: %d %s", code, stderr)
	}
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	checkPage(t, string(b), errText)

	// Usage and unreadable stores.
	if code, _, stderr := run("report", "--config", cfg, "extra"); code != 2 || !strings.Contains(stderr, "unexpected argument") {
		t.Errorf("extra argument: %d %s", code, stderr)
	}
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, []byte("x"), 0o644)
	bad := config(map[string]any{"sink": map[string]any{"type": "local", "path": notDir}})
	if code, _, stderr := run("report", "--config", bad); code != 1 || !strings.Contains(stderr, "cannot read the run reports in "+notDir+"/_runs/") {
		t.Errorf("a sink that is a file: %d %s", code, stderr)
	}
}

// checkPage parses the page (encoding/xml in its HTML mode) and checks it
// loads nothing, runs nothing, has a bar per run and the slot charts, and
// shows errText as text.
func checkPage(t *testing.T, page, errText string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(page))
	d.Strict, d.AutoClose, d.Entity = false, xml.HTMLAutoClose, xml.HTMLEntity
	bars, series := 0, 0
	var labels []string
	var text strings.Builder
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the page does not parse: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			switch tok.Name.Local {
			case "script", "link", "img", "iframe", "object", "embed":
				t.Errorf("the page has a <%s> element", tok.Name.Local)
			}
			for _, a := range tok.Attr {
				if a.Name.Local == "src" || a.Name.Local == "href" || strings.HasPrefix(a.Name.Local, "on") {
					t.Errorf("<%s %s=%q>", tok.Name.Local, a.Name.Local, a.Value)
				}
				switch {
				case a.Name.Local == "class" && strings.HasPrefix(a.Value, "bar"):
					bars++
				case a.Name.Local == "class" && a.Value == "series":
					series++
				case a.Name.Local == "aria-label":
					labels = append(labels, a.Value)
				}
			}
		case xml.CharData:
			text.Write(tok)
		}
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") || strings.Contains(page, "url(") {
		t.Errorf("the page refers to something outside it")
	}
	if bars != 4 {
		t.Errorf("%d bars, want one per run (4)", bars)
	}
	if series != 2 || !strings.Contains(strings.Join(labels, "|"), "Slot lag") {
		t.Errorf("the slot charts are missing: %d series, charts %v", series, labels)
	}
	if !strings.Contains(text.String(), errText) || !strings.Contains(text.String(), "<script>alert(1)") {
		t.Errorf("the error and the stream name should be on the page as text")
	}
	if strings.Contains(page, "<script>") {
		t.Errorf("a stream name became markup")
	}
}
