package fn

import (
	"context"
	"strings"
	"testing"
)

// TestHandoffEnv: no state machine ARN, no hand-off; with one, min rows
// must be a positive number.
func TestHandoffEnv(t *testing.T) {
	ctx := context.Background()
	env := Env{Region: "us-east-1"}
	get := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	if h, err := Handoff(ctx, get(nil), env); h != nil || err != nil {
		t.Errorf("without %s: %v %v", ParallelCopyARNEnv, h, err)
	}
	const arn = "arn:aws:states:us-east-1:123456789012:stateMachine:s-shop-parallel-copy"
	for _, rows := range []string{"", "0", "-1", "many"} {
		_, err := Handoff(ctx, get(map[string]string{ParallelCopyARNEnv: arn, ParallelMinRowsEnv: rows}), env)
		if err == nil || !strings.Contains(err.Error(), ParallelMinRowsEnv) || !strings.Contains(err.Error(), "parallel_copy.min_rows") {
			t.Errorf("min rows %q: %v", rows, err)
		}
	}
	h, err := Handoff(ctx, get(map[string]string{ParallelCopyARNEnv: arn, ParallelMinRowsEnv: "50000000", SFNEndpointEnv: "http://127.0.0.1:1"}), env)
	if err != nil || h == nil || h.MinRows != 50_000_000 || h.Copies == nil {
		t.Errorf("a hand-off: %+v %v", h, err)
	}
	if _, err := Handoff(ctx, get(map[string]string{ParallelCopyARNEnv: arn, ParallelMinRowsEnv: "5", SFNEndpointEnv: "not a url"}), env); err == nil {
		t.Error("a bad endpoint: no error")
	}
}
