package bookmark

import (
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/layout"
)

func TestBeginStartsVersionsWhenItMust(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	st, isNew := Begin(State{}, false, "FULL_TABLE", "", []string{"id"}, now)
	if !isNew || st.Version != now.UnixMilli() || st.KeyColumns[0] != "id" {
		t.Fatalf("first run: %+v %v", st, isNew)
	}
	mid := st.Page([]string{"42"}, false, now)
	if again, isNew := Begin(mid, true, "FULL_TABLE", "", []string{"id"}, now); isNew || again.LastKey[0] != "42" || again.Seq != 1 {
		t.Fatalf("an unfinished copy must resume: %+v", again)
	}
	done := mid.Page(nil, true, now)
	if next, isNew := Begin(done, true, "FULL_TABLE", "", []string{"id"}, now); !isNew || next.Version <= done.Version || next.Seq != 0 {
		t.Fatalf("a finished copy must start a new version: %+v", next)
	}
	v := "2024-01-01"
	inc := State{Method: "INCREMENTAL", ReplicationKey: "a", ReplicationKeyValue: &v, Version: 5}
	if next, isNew := Begin(inc, true, "INCREMENTAL", "b", nil, now); !isNew || next.ReplicationKeyValue != nil {
		t.Fatalf("a changed replication key must start over: %+v", next)
	}
	if next, isNew := Begin(inc, true, "LOG_BASED", "", nil, now); !isNew || next.Method != "LOG_BASED" {
		t.Fatalf("a changed method must start over: %+v", next)
	}
}

func TestResetKeepsMethodAndBumpsVersion(t *testing.T) {
	now := time.UnixMilli(10)
	st := State{Method: "LOG_BASED", Version: 50, StartLSN: 99, CopyDone: true, LastKey: []string{"1"}, Seq: 7}
	r := Reset(st, now)
	if r.Method != "LOG_BASED" || r.Version != 51 || r.StartLSN != 0 || r.CopyDone || r.LastKey != nil || r.Seq != 0 {
		t.Fatalf("reset: %+v", r)
	}
}

// A stream's phase follows its state through each method's life.
func TestPhase(t *testing.T) {
	now := time.Unix(1700000000, 0)
	v := "2024-01-01"
	for _, c := range []struct {
		name string
		st   State
		want Phase
	}{
		{"no bookmark", State{}, PhaseInitial},
		{"log-based, no start position", State{Method: layout.LogBased, Version: 1}, PhaseInitial},
		{"log-based, start position recorded", State{Method: layout.LogBased, Version: 1, StartLSN: 99}, PhaseCopying},
		{"log-based, copy under way", State{Method: layout.LogBased, Version: 1, StartLSN: 99, Seq: 3, LastKey: []string{"7"}}, PhaseCopying},
		{"log-based, copy done", State{Method: layout.LogBased, Version: 1, StartLSN: 99, Seq: 4, CopyDone: true}, PhaseLog},
		{"log-based, imported copy without a start position", State{Method: layout.LogBased, Version: 1, Seq: 4, LastKey: []string{"9"}}, PhaseInitial},
		{"full table, first page", State{Method: layout.FullTable, Version: 1}.Page([]string{"5"}, false, now), PhaseCopying},
		{"full table, done", State{Method: layout.FullTable, Version: 1}.Page(nil, true, now), PhaseCopied},
		{"full table, reset", Reset(State{Method: layout.FullTable, Version: 1, CopyDone: true}, now), PhaseInitial},
		{"incremental, nothing yet", State{Method: layout.Incremental, ReplicationKey: "u"}, PhaseInitial},
		{"incremental, a value", State{Method: layout.Incremental, ReplicationKey: "u"}.Increment(&v, []string{"1"}, now), PhaseIncremental},
	} {
		if got := c.st.Phase(); got != c.want {
			t.Errorf("%s: phase %s, want %s", c.name, got, c.want)
		}
	}
	if PhaseLog.String() != "log" || Phase(42).String() != "unknown" {
		t.Error("phase names")
	}
}
