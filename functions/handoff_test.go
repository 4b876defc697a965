package functions_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// scheduled is the sync function's result for a scheduled run.
type scheduled struct {
	Rows    int64 `json:"rows"`
	Streams []struct {
		Stream  string `json:"stream"`
		Rows    int64  `json:"rows"`
		Handoff string `json:"handoff"`
		Error   string `json:"error"`
	} `json:"streams"`
}

// TestScheduledRunHandsOffLargeTables runs scheduled sync runs through the
// sync function's real bootstrap with the stack's hand-off settings and a
// Step Functions stand-in: a table estimated above PG2S3_PARALLEL_MIN_ROWS
// is planned in ranges and one execution is started for it, named after
// the stream and version; the next run copies none of it and starts no
// second execution; the steps the state machine would invoke complete it;
// small tables are copied by every run as before.
func TestScheduledRunHandsOffLargeTables(t *testing.T) {
	const rows = 3000
	sf, err := testenv.StartStepFunctions()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sf.Close)
	const arn = "arn:aws:states:us-east-1:123456789012:stateMachine:pg2s3-shop-parallel-copy"
	h := newHarness(t, "shop", fmt.Sprintf(`CREATE TABLE big (id int PRIMARY KEY, v text);
INSERT INTO big SELECT g, 'v' || g FROM generate_series(1, %d) g;
CREATE TABLE small (id int PRIMARY KEY); INSERT INTO small SELECT generate_series(1, 5);
ANALYZE big; ANALYZE small;`, rows),
		`PG2S3_SETTINGS={"batch_rows": 100, "rows_per_range": 1000}`,
		`PG2S3_SELECTION={"shop-public-big": {"replication_method": "FULL_TABLE"}, "shop-public-small": {"replication_method": "FULL_TABLE"}}`,
		"PG2S3_PARALLEL_COPY_ARN="+arn, "PG2S3_PARALLEL_MIN_ROWS=2000", "PG2S3_SFN_ENDPOINT="+sf.Endpoint())
	const big, small = "shop-public-big", "shop-public-small"
	run := func() map[string]struct {
		Rows           int64
		Handoff, Error string
	} {
		t.Helper()
		var r scheduled
		if err := h.invoke("sync", 60*time.Second, `{}`, &r); err != nil {
			t.Fatalf("scheduled run: %v", err)
		}
		out := map[string]struct {
			Rows           int64
			Handoff, Error string
		}{}
		for _, s := range r.Streams {
			out[s.Stream] = struct {
				Rows           int64
				Handoff, Error string
			}{s.Rows, s.Handoff, s.Error}
		}
		return out
	}
	bigObjects := func(version int64) int {
		t.Helper()
		keys, err := h.sink.List(h.ctx, fmt.Sprintf("%s/v%d/", big, version))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, k := range keys {
			if strings.HasSuffix(k, ".jsonl.gz") {
				n++
			}
		}
		return n
	}

	first := run()
	bm, err := h.bm.Get(h.ctx, big)
	if err != nil {
		t.Fatal(err)
	}
	v1 := bm.State.Version
	name := fmt.Sprintf("%s-v%d", big, v1)
	if bm.State.Ranges < 2 || bm.State.CopyDone {
		t.Fatalf("the hand-off did not plan %s in ranges: %+v", big, bm.State)
	}
	if s := first[big]; s.Handoff != name || s.Rows != 0 || s.Error != "" {
		t.Errorf("first run, %s: %+v, want handed off to %s", big, s, name)
	}
	if s := first[small]; s.Rows != 5 || s.Handoff != "" || s.Error != "" {
		t.Errorf("first run, %s: %+v, want 5 rows copied", small, s)
	}
	calls := sf.Calls()
	if len(calls) != 1 {
		t.Fatalf("StartExecution calls: %+v, want 1", calls)
	}
	var input map[string]any
	if err := json.Unmarshal([]byte(calls[0].Input), &input); err != nil || len(input) != 1 || input["stream"] != big {
		t.Errorf("execution input %q, want {\"stream\": %q}", calls[0].Input, big)
	}
	if c := calls[0]; c.StateMachineArn != arn || c.Name != name || !c.Started {
		t.Errorf("StartExecution %+v, want %s on %s", c, name, arn)
	}
	if n := bigObjects(v1); n != 0 {
		t.Errorf("the run that handed %s off wrote %d objects of it", big, n)
	}

	// The copy is split and not done: the next run leaves it to the
	// execution, whose name exists already.
	second := run()
	if s := second[big]; s.Handoff != name || s.Rows != 0 || s.Error != "" {
		t.Errorf("second run, %s: %+v, want left to %s", big, s, name)
	}
	if s := second[small]; s.Rows != 5 || s.Error != "" {
		t.Errorf("second run, %s: %+v", small, s)
	}
	started := 0
	for _, c := range sf.Calls() {
		if c.Started {
			started++
		}
		if c.Name != name {
			t.Errorf("a second execution name %s for the same copy", c.Name)
		}
	}
	if started != 1 {
		t.Errorf("%d executions started, want 1: %+v", started, sf.Calls())
	}
	if bm2, err := h.bm.Get(h.ctx, big); err != nil || bm2.State.Version != v1 || bm2.State.Ranges != bm.State.Ranges {
		t.Errorf("the second run moved %s's plan: %+v %v", big, bm2.State, err)
	}
	if n := bigObjects(v1); n != 0 {
		t.Errorf("a scheduled run wrote %d objects of %s while the execution copies it", n, big)
	}

	// The execution's steps (the state machine invokes them) complete it.
	var plan step
	if err := h.invoke("sync", 30*time.Second, fmt.Sprintf(`{"plan": %q}`, big), &plan); err != nil || plan.TableVersion != v1 || len(plan.Ranges) != bm.State.Ranges {
		t.Fatalf("plan step: %+v %v", plan, err)
	}
	var copied int64
	for _, r := range plan.Ranges {
		for n := 0; ; n++ {
			if n > 50 {
				t.Fatalf("range %d: still more after %d invocations", r, n)
			}
			var s step
			if err := h.invoke("sync", 30*time.Second, fmt.Sprintf(`{"stream": %q, "range": %d, "owner": %q}`, big, r, name), &s); err != nil || s.Skipped != "" {
				t.Fatalf("range %d: %+v %v", r, s, err)
			}
			copied += s.Rows
			if !s.More {
				break
			}
		}
	}
	var act step
	if err := h.invoke("sync", 30*time.Second, fmt.Sprintf(`{"activate": %q}`, big), &act); err != nil || !act.CopyDone {
		t.Fatalf("activate step: %+v %v", act, err)
	}
	if copied != rows {
		t.Errorf("the range steps copied %d rows, the table has %d", copied, rows)
	}
	if _, err := h.sink.Get(h.ctx, layout.ActivationKey(big, v1)); err != nil {
		t.Errorf("version %d of %s not activated: %v", v1, big, err)
	}

	// The copy is done: the next run copies the small table as ever and
	// hands the big one's next version to a new execution.
	third := run()
	if s := third[small]; s.Rows != 5 || s.Error != "" {
		t.Errorf("third run, %s: %+v", small, s)
	}
	bm3, err := h.bm.Get(h.ctx, big)
	if err != nil {
		t.Fatal(err)
	}
	next := fmt.Sprintf("%s-v%d", big, bm3.State.Version)
	if s := third[big]; bm3.State.Version <= v1 || s.Handoff != next || s.Rows != 0 {
		t.Errorf("third run, %s: %+v (version %d after %d), want handed off to %s", big, s, bm3.State.Version, v1, next)
	}
	if calls := sf.Calls(); len(calls) != 3 || calls[2].Name != next || !calls[2].Started {
		t.Errorf("StartExecution calls %+v, want a third starting %s", calls, next)
	}
}
