package app_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/app"
)

// copies is a ParallelCopies that records the names it was asked to
// start and fails while err is set.
type copies struct {
	names []string
	err   error
}

func (c *copies) StartCopy(_ context.Context, name, stream string) (bool, error) {
	if c.err != nil {
		return false, c.err
	}
	for _, n := range c.names {
		if n == name {
			return false, nil
		}
	}
	c.names = append(c.names, name)
	return true, nil
}

// TestHandoffStartFails: when the execution cannot be started, the run
// fails the stream with the planned copy in its error and copies nothing;
// the next run starts the execution for the same plan. Streams below the
// threshold, INCREMENTAL streams and tables without a key are copied.
func TestHandoffStartFails(t *testing.T) {
	ctx := context.Background()
	dsn, _ := newDB(t, `CREATE TABLE big (id int PRIMARY KEY, v text);
INSERT INTO big SELECT g, 'v' || g FROM generate_series(1, 3000) g;
CREATE TABLE nokey (v text); INSERT INTO nokey SELECT 'n' || g FROM generate_series(1, 3000) g;
CREATE TABLE small (id int PRIMARY KEY); INSERT INTO small VALUES (1);
ANALYZE big; ANALYZE nokey; ANALYZE small;`)
	p := newPipeline(t, dsn, map[string]any{"rows_per_range": 1000}, map[string]string{"big": "FULL_TABLE", "nokey": "FULL_TABLE", "small": "FULL_TABLE"})
	c := &copies{err: errors.New("start parallel copy execution x: access denied")}
	opts := app.RunOptions{Handoff: &app.Handoff{Copies: c, MinRows: 2000}}
	run, err := p.app.Sync(ctx, p.cat, opts)
	if err != nil {
		t.Fatal(err)
	}
	big := streamID(p, "big")
	for _, s := range run.Streams {
		switch {
		case s.Stream == big && (s.Rows != 0 || !strings.Contains(s.Error, "access denied") || !strings.Contains(s.Error, "the next scheduled run starts the execution again")):
			t.Errorf("big, the start failing: %+v", s)
		case s.Stream != big && (s.Error != "" || s.Rows == 0 || s.Handoff != ""):
			t.Errorf("%s is not copied by the run: %+v", s.Stream, s)
		}
	}
	bm, err := p.app.Stores.Bookmarks.Get(ctx, big)
	if err != nil || bm.State.Ranges < 2 {
		t.Fatalf("big is not planned: %+v %v", bm.State, err)
	}
	c.err = nil
	run, err = p.app.Sync(ctx, p.cat, app.RunOptions{Streams: []string{big}, Handoff: opts.Handoff})
	want := app.ExecutionName(big, bm.State.Version)
	if err != nil || run.Failed() || run.Streams[0].Handoff != want || run.Streams[0].Rows != 0 || len(c.names) != 1 || c.names[0] != want {
		t.Fatalf("the next run: %v %+v, started %v, want %s", err, run.Streams, c.names, want)
	}
	st, err := p.app.Status(ctx, p.cat)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Streams {
		if s.Stream == big && (!strings.Contains(s.Bookmark, "0 of") || s.LastResult != "handed off to execution "+want) {
			t.Errorf("status of the handed-off copy: %q, %q", s.Bookmark, s.LastResult)
		}
	}
}

func TestExecutionName(t *testing.T) {
	long := strings.Repeat("s", 90)
	for _, c := range []struct {
		stream string
		want   string
	}{
		{"shop-public-orders", "shop-public-orders-v1712345678901"},
		{"shop_2-public-Orders_x", "shop_2-public-Orders_x-v1712345678901"},
	} {
		if got := app.ExecutionName(c.stream, 1712345678901); got != c.want {
			t.Errorf("%s: %s, want %s", c.stream, got, c.want)
		}
	}
	a, b := app.ExecutionName("shop-public-a.b", 1), app.ExecutionName("shop-public-a:b", 1)
	if a == b || !strings.HasPrefix(a, "shop-public-a_b-") || strings.ContainsAny(a+b, ".:") {
		t.Errorf("ids differing in characters names cannot hold: %s, %s", a, b)
	}
	for _, id := range []string{long, long + "x", "db-public-" + strings.Repeat("é", 40)} {
		n := app.ExecutionName(id, 1712345678901)
		if len(n) > 80 || !strings.HasSuffix(n, "-v1712345678901") {
			t.Errorf("%s: %s (%d characters)", id, n, len(n))
		}
	}
	if app.ExecutionName(long, 1) == app.ExecutionName(long+"x", 1) {
		t.Error("two long ids share a name")
	}
}
