package awsstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/testenv"
)

// TestParallelCopiesStart starts executions through the SDK against the
// Step Functions stand-in: a new name starts one, a name that exists is
// no error and starts nothing; an endpoint that is not there says so.
func TestParallelCopiesStart(t *testing.T) {
	ctx := context.Background()
	sf, err := testenv.StartStepFunctions()
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	const arn = "arn:aws:states:us-east-1:123456789012:stateMachine:pg2s3-shop-parallel-copy"
	pc, err := NewParallelCopies(ctx, arn, "", sf.Endpoint(), testCreds())
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false} {
		started, err := pc.StartCopy(ctx, "shop-public-big-v7", "shop-public-big")
		if err != nil || started != want {
			t.Fatalf("start %d: started %v, %v; want %v", i, started, err, want)
		}
	}
	if started, err := pc.StartCopy(ctx, "shop-public-big-v8", "shop-public-big"); err != nil || !started {
		t.Fatalf("a new version's execution: %v %v", started, err)
	}
	calls := sf.Calls()
	if len(calls) != 3 || calls[0].StateMachineArn != arn || calls[0].Input != `{"stream":"shop-public-big"}` || calls[1].Started {
		t.Errorf("calls %+v", calls)
	}

	if _, err := NewParallelCopies(ctx, "", "", sf.Endpoint(), testCreds()); err == nil {
		t.Error("no ARN: no error")
	}
	sf.Close()
	gone, err := NewParallelCopies(ctx, arn, "", sf.Endpoint(), testCreds(), WithRetries(1, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gone.StartCopy(ctx, "x-v1", "x"); err == nil || !strings.Contains(err.Error(), "cannot reach Step Functions at "+sf.Endpoint()) {
		t.Errorf("unreachable endpoint: %v", err)
	}
}
