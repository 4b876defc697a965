package fn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryEventFileDecodes runs each events/*.json through the decoding
// of the function its name starts with.
func TestEveryEventFileDecodes(t *testing.T) {
	files, err := filepath.Glob("../../../events/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no events/*.json found: %v", err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		fn := strings.SplitN(name, "-", 2)[0]
		fn = strings.TrimSuffix(fn, ".json")
		seen[fn] = true
		var derr error
		switch fn {
		case "sync":
			var ev SyncEvent
			derr = Decode(body, &ev)
		case "wal":
			var ev WalEvent
			derr = Decode(body, &ev)
		case "reset":
			var ev ResetEvent
			if derr = Decode(body, &ev); derr == nil {
				derr = ev.Validate()
			}
		case "discover":
			var ev DiscoverEvent
			derr = Decode(body, &ev)
		case "materialize":
			var ev MaterializeEvent
			if derr = Decode(body, &ev); derr == nil {
				derr = ev.Validate()
			}
		case "parallel": // the parallel copy state machine's input
			var ev ParallelCopyInput
			if derr = Decode(body, &ev); derr == nil {
				derr = ev.Validate()
			}
		default:
			t.Errorf("%s: name does not start with a function (sync, wal, reset, discover, materialize) or parallel (the state machine)", name)
			continue
		}
		if derr != nil {
			t.Errorf("%s: %v", name, derr)
		}
	}
	for _, want := range []string{"sync", "wal", "reset", "discover", "materialize"} {
		if !seen[want] {
			t.Errorf("no sample event for the %s function", want)
		}
	}
}

func TestMaterializeEventValidate(t *testing.T) {
	for body, want := range map[string]string{
		`{}`:                 "",
		`{"streams": ["a"]}`: "",
		`{"maintain": true, "keep_snapshots": 3}`:        "",
		`{"keep_snapshots": 3}`:                          "go with",
		`{"maintain": true, "snapshot_age_seconds": -1}`: "positive",
		`{"maintain": "yes"}`:                            "cannot unmarshal",
		`{"stream": "a"}`:                                "unknown field",
	} {
		var ev MaterializeEvent
		err := Decode([]byte(body), &ev)
		if err == nil {
			err = ev.Validate()
		}
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}
