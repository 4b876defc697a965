package bookmark

import (
	"testing"
	"time"
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
