package functions_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/testenv"
)

// TestFrozenBetweenInvocations: Lambda freezes a warm function between
// invocations with whatever sockets it left open, and the NATs and load
// balancers on the way may drop those flows meanwhile, so a socket kept
// from the last invocation leads into a black hole. Under the emulator,
// the wal function is frozen (SIGSTOP) after each invocation while every
// endpoint forgets its open connections; each thawed invocation must
// drain the changes made meanwhile quickly (no request waits on a dead
// socket for its response timeout), and the function must not carry
// sockets from one invocation into the next.
func TestFrozenBetweenInvocations(t *testing.T) {
	const limit = 30 * time.Second
	h := newHarness(t, "frz", `CREATE TABLE a (id int PRIMARY KEY, v text); INSERT INTO a SELECT g, 'v' || g FROM generate_series(1, 100) g;`,
		`PG2S3_SELECTION={"frz-public-a": {"replication_method": "LOG_BASED"}}`, "PG2S3_SAFETY_SECONDS=5")
	proxies := h.proxied("frz").all()

	r, err := testenv.StartRIE(h.build("wal"), h.env, limit)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	invoke := func(i int) (result, time.Duration) {
		t.Helper()
		start := time.Now()
		body, err := r.Invoke(h.ctx, []byte(`{}`))
		took := time.Since(start)
		if err != nil {
			t.Fatalf("invocation %d after %s: %v\n%s", i, took, err, r.Logs())
		}
		var res result
		if err := json.Unmarshal(body, &res); err != nil {
			t.Fatalf("invocation %d returned %s", i, body)
		}
		return res, took
	}
	// The first invocation makes the slot and copies the table; the
	// sockets it leaves open are the baseline.
	invoke(0)
	base, err := r.OpenSockets()
	if err != nil {
		t.Fatal(err)
	}
	var sockets []int
	for i := 1; i <= 3; i++ {
		if err := r.Freeze(); err != nil {
			t.Fatal(err)
		}
		for _, p := range proxies {
			p.Forget()
		}
		if err := testenv.Exec(h.ctx, h.pg.DSN("frz"), fmt.Sprintf(`INSERT INTO a SELECT g, 'w' || g FROM generate_series(%d, %d) g; UPDATE a SET v = 'u%d' WHERE id = %d`, 1000*i, 1000*i+49, i, i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		if err := r.Thaw(); err != nil {
			t.Fatal(err)
		}
		res, took := invoke(i)
		if res.Rows != 51 || took > 10*time.Second {
			t.Fatalf("invocation %d after a freeze that dropped its connections: %d changes in %s (want the 51 made meanwhile, well before a dead socket's response timeout): %+v\n%s", i, res.Rows, took, res, r.Logs())
		}
		n, err := r.OpenSockets()
		if err != nil {
			t.Fatal(err)
		}
		sockets = append(sockets, n)
		t.Logf("invocation %d after a freeze: %d changes in %s; %d sockets open after it", i, res.Rows, took.Round(time.Millisecond), n)
	}
	if last := sockets[len(sockets)-1]; last > base {
		t.Errorf("the function holds more sockets after each frozen invocation: %d after the first, then %v", base, sockets)
	}
}
