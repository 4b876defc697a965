package functions_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/layout"
)

// step is the sync function's result for a parallel copy step.
type step struct {
	result
	Stream       string `json:"stream"`
	TableVersion int64  `json:"table_version"`
	Ranges       []int  `json:"ranges"`
	How          string `json:"how"`
	More         bool   `json:"more"`
	CopyDone     bool   `json:"copy_done"`
	Skipped      string `json:"skipped"`
}

// TestParallelCopySteps drives a parallel copy through the sync
// function's real bootstrap as the stack's state machine does: plan, each
// range piece by piece until it says no more, then activate. Every row of
// the table is in the activated version exactly once; a second plan
// returns the same plan; a range another execution holds is skipped; bad
// events and streams that cannot be split get errors that say why.
func TestParallelCopySteps(t *testing.T) {
	const rows = 3000
	h := newHarness(t, "shop", fmt.Sprintf(`CREATE TABLE big (id int PRIMARY KEY, v text);
INSERT INTO big SELECT g, 'v' || g FROM generate_series(1, %d) g;
CREATE TABLE nokey (v text); INSERT INTO nokey VALUES ('a');
CREATE TABLE inc (id int PRIMARY KEY, t timestamptz); INSERT INTO inc VALUES (1, now());
ANALYZE big;`, rows),
		// batches of 10 rows and runs of at most a second: a range of
		// 1000 rows takes more than one invocation
		`PG2S3_SETTINGS={"batch_rows": 10, "rows_per_range": 1000}`,
		`PG2S3_SELECTION={"shop-public-big": {"replication_method": "FULL_TABLE"}, "shop-public-nokey": {"replication_method": "FULL_TABLE"},
		  "shop-public-inc": {"replication_method": "INCREMENTAL", "replication_key": "t"}}`)
	const id = "shop-public-big"
	call := func(payload string) (step, error) {
		t.Helper()
		var s step
		err := h.invoke("sync", 30*time.Second, payload, &s)
		return s, err
	}

	for payload, want := range map[string]string{
		`{"stream": "shop-public-big"}`: `needs "range"`,
		`{"range": 1}`:                  `"range" needs "stream"`,
		`{"plan": "shop-public-big", "activate": "shop-public-big"}`: "give one step",
		`{"plan": "shop-public-big", "streams": ["x"]}`:              `takes no "streams"`,
		`{"stream": "shop-public-big", "range": -1}`:                 "negative",
		`{"plan": "shop-public-big", "owner": "x"}`:                  `"owner"`,
		`{"plan": "shop-public-nope"}`:                               "the selected streams are: shop-public-big, shop-public-inc, shop-public-nokey",
		`{"plan": "shop-public-nokey"}`:                              "has no primary key",
		`{"plan": "shop-public-inc"}`:                                "INCREMENTAL",
		`{"stream": "shop-public-big", "range": 0}`:                  "no parallel copy planned: plan it first",
		`{"plann": "shop-public-big"}`:                               "plann",
		`{"plan": "shop-public-big", "max_batches": 3}`:              "bounds a scheduled run or a range step",
	} {
		if _, err := call(payload); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", payload, err, want)
		}
	}

	plan, err := call(`{"plan": "shop-public-big"}`)
	if err != nil || plan.Stream != id || plan.TableVersion == 0 || len(plan.Ranges) < 2 || plan.How == "" || plan.CopyDone {
		t.Fatalf("plan: %+v %v", plan, err)
	}
	for i, r := range plan.Ranges {
		if r != i {
			t.Fatalf("plan ranges %v are not 0..n-1", plan.Ranges)
		}
	}
	again, err := call(`{"plan": "shop-public-big"}`)
	if err != nil || again.TableVersion != plan.TableVersion || len(again.Ranges) != len(plan.Ranges) {
		t.Fatalf("second plan: %+v %v, first %+v", again, err, plan)
	}

	// Another execution holds range 0: this one leaves it alone.
	lease := fmt.Sprintf("range#%s/0", id)
	if err := h.bm.Acquire(h.ctx, lease, "other-execution", time.Minute); err != nil {
		t.Fatal(err)
	}
	held, err := call(`{"stream": "shop-public-big", "range": 0, "owner": "exec-1"}`)
	if err != nil || held.Skipped == "" || held.More || held.Rows != 0 {
		t.Fatalf("a range another execution holds: %+v %v", held, err)
	}
	if err := h.bm.Release(h.ctx, lease, "other-execution"); err != nil {
		t.Fatal(err)
	}
	// An invocation of this execution that died left its lease: a retry
	// with the same owner takes it over.
	if err := h.bm.Acquire(h.ctx, lease, "exec-1", time.Minute); err != nil {
		t.Fatal(err)
	}

	pieces, copied := 0, int64(0)
	for _, r := range plan.Ranges {
		for n := 0; ; n++ {
			if n > 200 {
				t.Fatalf("range %d: still more after %d invocations", r, n)
			}
			s, err := call(fmt.Sprintf(`{"stream": %q, "range": %d, "owner": "exec-1", "max_batches": 40}`, id, r))
			if err != nil || s.Skipped != "" || s.TableVersion != plan.TableVersion {
				t.Fatalf("range %d: %+v %v", r, s, err)
			}
			pieces++
			copied += s.Rows
			if !s.More {
				break
			}
		}
	}
	if pieces == len(plan.Ranges) {
		t.Errorf("every range was copied in one invocation: max_batches did not bound a piece")
	}
	if copied != rows {
		t.Errorf("the range steps report %d rows, the table has %d", copied, rows)
	}
	act, err := call(`{"activate": "shop-public-big"}`)
	if err != nil || !act.CopyDone {
		t.Fatalf("activate: %+v %v", act, err)
	}
	if act, err = call(`{"activate": "shop-public-big"}`); err != nil || !act.CopyDone {
		t.Fatalf("activate again: %+v %v", act, err)
	}
	if _, err := h.sink.Get(h.ctx, layout.ActivationKey(id, plan.TableVersion)); err != nil {
		t.Fatalf("no activation marker: %v", err)
	}
	seen := h.versionRows(id, plan.TableVersion, "id")
	if len(seen) != rows {
		t.Errorf("%d distinct rows in version %d, the table has %d", len(seen), plan.TableVersion, rows)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("row %s written %d times", k, n)
		}
	}
	// Once complete, a FULL_TABLE plan begins the next copy: a new version.
	if next, err := call(`{"plan": "shop-public-big"}`); err != nil || next.TableVersion <= plan.TableVersion || len(next.Ranges) < 2 {
		t.Errorf("plan after a completed copy: %+v %v", next, err)
	}
}
