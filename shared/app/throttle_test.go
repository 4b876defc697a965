package app_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/awsstore/awstest"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// TestThrottledStores: S3 and DynamoDB answer a fifth of all requests with
// their throttling and server errors (SlowDown, InternalError,
// ProvisionedThroughputExceededException, ThrottlingException,
// RequestLimitExceeded, 500). The SDK's retries absorb most; a run whose
// retries run out fails cleanly and the next goes on. A copy and a drain
// with changes meanwhile end with the current tables equal to the source:
// nothing lost, nothing doubled.
func TestThrottledStores(t *testing.T) {
	aws := awstest.Start(t, "throttled", "throttled")
	s3t, err := testenv.StartThrottle(aws.S3.Endpoint(), false, 0.2, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer s3t.Close()
	dyt, err := testenv.StartThrottle(aws.Dynamo.Endpoint(), true, 0.2, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer dyt.Close()
	dsn, _ := newDB(t, `CREATE TABLE f (id int PRIMARY KEY, v text); INSERT INTO f SELECT g, 'f' || g FROM generate_series(1, 2000) g;
CREATE TABLE l (id int PRIMARY KEY, v text); INSERT INTO l SELECT g, 'l' || g FROM generate_series(1, 3000) g;`)
	keys := aws.ConfigKeys("p")
	keys["sink"].(map[string]any)["endpoint"] = s3t.URL
	keys["bookmarks"].(map[string]any)["endpoint"] = dyt.URL
	keys["batch_rows"] = 200
	p := newPipeline(t, dsn, keys, map[string]string{"f": "FULL_TABLE", "l": "LOG_BASED"})
	ctx := context.Background()
	failed, runs := 0, 0
	for i := 0; i < 4; i++ {
		mustExec(t, dsn, fmt.Sprintf("UPDATE l SET v = v || '+' WHERE id %% 50 = %d; DELETE FROM l WHERE id = %d; INSERT INTO l VALUES (%d, 'new')", i, 100+i, 5000+i))
		for _, f := range []func(context.Context) (bool, error){
			func(ctx context.Context) (bool, error) {
				r, err := p.app.Sync(ctx, p.cat, app.RunOptions{MaxBatches: 4})
				return err == nil && r.Failed(), err
			},
			func(ctx context.Context) (bool, error) {
				r, err := p.app.Drain(ctx, p.cat, app.RunOptions{MaxBatches: 4})
				return err == nil && r.Failed(), err
			},
		} {
			runs++
			bad, err := f(ctx)
			if bad || err != nil {
				failed++ // retries ran out: the run stopped cleanly
			}
		}
	}
	// The stores answer again: the runs finish what is left.
	s3t.SetRate(0)
	dyt.SetRate(0)
	for i := 0; i < 20; i++ {
		run, err := p.app.Sync(ctx, p.cat, app.RunOptions{})
		if err != nil || run.Failed() {
			t.Fatalf("sync with the stores answering: %v %+v", err, run)
		}
		if _, done := drain(t, p, app.RunOptions{}); done && run.Streams[0].CopyDone {
			break
		}
	}
	drain(t, p, app.RunOptions{})
	checkCurrent(t, p, dsn, "f", "l")
	rows := copyRows(t, p, streamID(p, "f"), activeVersion(t, p, streamID(p, "f")))
	if copyDuplicates(rows) != 0 {
		t.Errorf("%d copy rows doubled", copyDuplicates(rows))
	}
	s3, s3ok := s3t.Injected()
	dy, dyok := dyt.Injected()
	t.Logf("throttled stores: %d runs, %d stopped when retries ran out; S3 errors %v (%d passed), DynamoDB errors %v (%d passed)", runs, failed, s3, s3ok, dy, dyok)
	if len(s3) < 2 || len(dy) < 4 {
		t.Errorf("not every kind of error was injected: S3 %v, DynamoDB %v", s3, dy)
	}
}
