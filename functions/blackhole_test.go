package functions_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/encode"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// TestBlackHoledEndpointsEndTheFunctionBeforeItsLimit: under the Lambda
// emulator, the sync function meets each of its endpoints black-holed
// (connections accepted, never answered: the half-open case) —
// PostgreSQL and S3 going silent in the middle of a copy, DynamoDB and
// Secrets Manager silent from the start — and each time returns a failed
// result of its own before the function's limit, never an emulator
// timeout. Once every endpoint answers again, the copy completes with
// every row once.
func TestBlackHoledEndpointsEndTheFunctionBeforeItsLimit(t *testing.T) {
	const limit = 14 * time.Second // the function's timeout; the run's deadline is 7 s in
	h := newHarness(t, "bh", `CREATE TABLE a (id int PRIMARY KEY, v text); INSERT INTO a SELECT g, md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) FROM generate_series(1, 40000) g;`,
		`PG2S3_SELECTION={"bh-public-a": {"replication_method": "FULL_TABLE"}}`,
		`PG2S3_SETTINGS={"batch_rows": 1000}`, "PG2S3_SAFETY_SECONDS=7")
	e := h.proxied("bh")
	pgProxy, s3Proxy, dynProxy, smProxy := e.pg, e.s3, e.dynamo, e.secrets

	for _, c := range []struct {
		name  string
		proxy *testenv.FaultProxy
		slow  testenv.Faults // so that the silence comes mid-copy
		after int64          // bytes forwarded before the endpoint goes silent (0: silent from the start)
		want  string         // in the function's error
	}{
		{"PostgreSQL mid-copy", pgProxy, testenv.Faults{BytesPerSec: 4 << 20}, 3 << 20, "some streams failed"},
		{"S3 mid-copy", s3Proxy, testenv.Faults{BytesPerSec: 2 << 20}, 1 << 20, "some streams failed"},
		{"DynamoDB", dynProxy, testenv.Faults{}, 0, ""},
		{"Secrets Manager", smProxy, testenv.Faults{}, 0, "Secrets Manager did not answer in time"},
	} {
		c.proxy.Set(c.slow)
		c.proxy.Silence(c.after == 0)
		stop := make(chan struct{})
		go func() { // silence the endpoint once the copy is under way
			base := c.proxy.Bytes.Load()
			for c.after > 0 && c.proxy.Bytes.Load()-base < c.after {
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
			}
			c.proxy.Silence(true)
		}()
		var res result
		// invokeLogs fails the test when the emulator stopped the function at its limit
		logs, err := h.invokeLogs("sync", limit, `{}`, &res)
		close(stop)
		c.proxy.Silence(false)
		c.proxy.Set(testenv.Faults{})
		took := reportedDuration(logs)
		var fe *testenv.FunctionError
		if !errors.As(err, &fe) || took <= 0 || took >= limit || !strings.Contains(fe.Message, c.want) || c.proxy.BlackHoles.Load()+c.proxy.Accepted.Load() == 0 {
			t.Fatalf("%s black-holed: the function returned after %s (limit %s): %+v %v\n%s", c.name, took, limit, res, err, logs)
		}
		t.Logf("%s black-holed: the function failed cleanly after %s: %.300s", c.name, took, fe.Message)
	}

	// Everything answers again: the copy resumes and completes.
	id := "bh-public-a"
	for i := 0; ; i++ {
		var res result
		if err := h.invoke("sync", limit, `{}`, &res); err != nil {
			t.Fatalf("sync after the endpoints came back: %+v %v", res, err)
		}
		b, err := h.bm.Get(h.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if b.State.CopyDone {
			break
		}
		if i == 10 {
			t.Fatalf("copy not done after %d runs: %+v", i+1, b.State)
		}
	}
	b, _ := h.bm.Get(h.ctx, id)
	seen := h.versionRows(id, b.State.Version, "id")
	if len(seen) != 40000 {
		t.Errorf("%d distinct rows in the completed version, the table has 40000", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("row %s written %d times", k, n)
		}
	}
}

// versionRows counts the records of each value of column col in the data
// objects of version v of stream id.
func (h *harness) versionRows(id string, v int64, col string) map[string]int {
	h.t.Helper()
	keys, err := h.sink.List(h.ctx, fmt.Sprintf("%s/v%d/", id, v))
	if err != nil {
		h.t.Fatal(err)
	}
	seen := map[string]int{}
	for _, k := range keys {
		if !strings.HasSuffix(k, ".jsonl.gz") {
			continue
		}
		body, err := h.sink.Get(h.ctx, k)
		if err != nil {
			h.t.Fatal(err)
		}
		recs, err := encode.ReadObject(k, body)
		if err != nil {
			h.t.Fatal(err)
		}
		for _, rec := range recs {
			seen[fmt.Sprint(rec[col])]++
		}
	}
	return seen
}

// reportedDuration is the invocation's duration in the emulator's REPORT
// line (the Lambda clock: from the invocation to the function's answer).
func reportedDuration(logs string) time.Duration {
	_, after, ok := strings.Cut(logs, "\tDuration: ")
	if !ok {
		return 0
	}
	ms, _, _ := strings.Cut(after, " ms")
	d, err := time.ParseDuration(ms + "ms")
	if err != nil {
		return 0
	}
	return d
}
