package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/awsstore/awstest"
	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/replicate"
)

// faultPoints are where a run is made to fail, in commit order.
var faultPoints = []string{
	"before-data",      // the data object write fails
	"before-manifest",  // data written, the manifest write fails
	"before-bookmark",  // manifest written, the bookmark write fails
	"before-ack",       // bookmark written, the run fails before acknowledging
	"walsender",        // the replication connection is terminated mid-drain
	"postgres-restart", // the server restarts (fast) mid-run
}

// awsFaultPoints stop the S3- or DynamoDB-compatible server mid-run; it
// starts again after the run.
var awsFaultPoints = []string{"s3-outage", "dynamo-outage"}

// injector arms one fault point, to fire on its n-th occurrence.
type injector struct {
	mu     sync.Mutex
	point  string
	n      int
	fired  int
	action func(point string) // walsender, postgres-restart
	// outage stops a server for the call it wraps and returns the restart.
	outage func(point string) (restart func())
}

func (in *injector) arm(point string, n int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.point, in.n = point, n
}

// hit says whether point fires now.
func (in *injector) hit(point string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.point != point {
		return false
	}
	in.n--
	if in.n != 0 {
		return false
	}
	in.point = ""
	in.fired++
	return true
}

var errInjected = errors.New("injected fault")

type faultySink struct {
	replicate.Sink
	in *injector
}

func (s *faultySink) Create(ctx context.Context, key, ct string) (record.ObjectWriter, error) {
	for _, p := range []string{"walsender", "postgres-restart"} {
		if s.in.hit(p) {
			s.in.action(p)
		}
	}
	if s.in.hit("s3-outage") {
		defer s.in.outage("s3-outage")()
	}
	if s.in.hit("before-data") {
		return nil, errInjected
	}
	return s.Sink.Create(ctx, key, ct)
}

func (s *faultySink) PutIfAbsent(ctx context.Context, key string, body []byte, ct string) ([]byte, error) {
	if s.in.hit("before-manifest") {
		return nil, errInjected
	}
	return s.Sink.PutIfAbsent(ctx, key, body, ct)
}

type faultyBookmarks struct {
	replicate.Bookmarks
	in *injector
}

func (b *faultyBookmarks) Put(ctx context.Context, stream string, st bookmark.State, rev int64) (int64, error) {
	if b.in.hit("dynamo-outage") {
		defer b.in.outage("dynamo-outage")()
	}
	if b.in.hit("before-bookmark") {
		return 0, errInjected
	}
	n, err := b.Bookmarks.Put(ctx, stream, st, rev)
	if err == nil && b.in.hit("before-ack") {
		return 0, errInjected // written, but the run stops before its acknowledgment
	}
	return n, err
}

// TestFaultsLoseAndDoubleNothing fails runs at every commit step, cuts the
// replication connection, restarts PostgreSQL and stops the S3 and
// DynamoDB servers, over seeded iterations with a concurrent workload
// (FAULT_ITERATIONS=n for a longer run). Afterwards the log-based stream,
// merged by key in LSN order, equals the table; every full copy holds each
// row once; every manifest matches the objects it names; and the slot never
// passed the committed bookmark.
func TestFaultsLoseAndDoubleNothing(t *testing.T) {
	iterations := 18
	if n, err := strconv.Atoi(os.Getenv("FAULT_ITERATIONS")); err == nil && n > 0 {
		iterations = n
	}
	t.Run("local", func(t *testing.T) { faultSuite(t, faultOptions{iterations: iterations}) })
	t.Run("s3-dynamodb", func(t *testing.T) {
		aws := awstest.Start(t, "faults", "faults")
		stores := aws.ConfigKeys("f")
		type server interface {
			Stop()
			Start() error
		}
		servers := map[string]server{"s3-outage": aws.S3, "dynamo-outage": aws.Dynamo}
		outage := func(point string) func() {
			srv := servers[point]
			srv.Stop()
			return func() {
				if err := srv.Start(); err != nil {
					t.Errorf("restart after %s: %v", point, err)
				}
			}
		}
		faultSuite(t, faultOptions{iterations: max(iterations/2, 4), stores: stores, outage: outage})
	})
}

// faultOptions shape a run of the fault suite.
type faultOptions struct {
	iterations int
	stores     map[string]any // config keys of the sink and bookmarks (nil: local)
	// outage, when set, adds the points that stop a store's server for
	// one call (S3 and DynamoDB outages).
	outage func(string) func()
	// net, when set, adds the network faults of the soak (net.points).
	net    *netFaults
	plugin string
	seed   int64
	// progress, when set, is told each iteration's fault.
	progress func(i int, point string)
}

// faultFigures is what a run of the suite counted.
type faultFigures struct {
	faults   map[string]int // by kind
	failures int            // runs that failed (and were recovered)
	runs     int
	checked  int // rows compared with the source at the end
	// loaderChecked are rows compared through docs/loader/load-dir.sh
	// (local stores only).
	loaderChecked int
	// dynaliteCrashes counts the DynamoDB test server's deaths (soak).
	dynaliteCrashes int64
}

// faultSuite runs the iterations and checks the result (see
// TestFaultsLoseAndDoubleNothing), returning its figures.
func faultSuite(t *testing.T, o faultOptions) faultFigures {
	iterations, stores, outage := o.iterations, o.stores, o.outage
	fig := faultFigures{faults: map[string]int{}}
	extra := map[string]any{"batch_rows": 300}
	if o.plugin != "" {
		extra["logical_plugin"] = o.plugin
	}
	for k, v := range stores {
		extra[k] = v
	}
	if o.net != nil {
		o.net.route(extra)
	}
	dsn, _ := newDB(t, acctSchema+`
CREATE TABLE ledger (id bigint PRIMARY KEY, balance numeric(20,2) NOT NULL, note text);
INSERT INTO ledger SELECT g, g, 'l' || g FROM generate_series(1, 3000) g;`)
	p := newPipeline(t, dsn, extra, map[string]string{"acct": "LOG_BASED", "ledger": "FULL_TABLE"})
	ctx := context.Background()
	in := &injector{}
	var restarts sync.WaitGroup
	in.action = func(point string) {
		switch point {
		case "walsender":
			execSQL(dsn, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE active_pid IS NOT NULL")
		case "postgres-restart":
			// In the background: a shutdown waits for walsenders to hand
			// their WAL to the client, which is the run calling us.
			restarts.Add(1)
			go func() {
				defer restarts.Done()
				if err := testPG.Restart(); err != nil {
					t.Errorf("restart: %v", err)
				}
			}()
		}
	}
	in.outage = outage
	p.app.Stores.Sink = &faultySink{Sink: p.app.Stores.Sink, in: in}
	p.app.Stores.Bookmarks = &faultyBookmarks{Bookmarks: p.app.Stores.Bookmarks, in: in}
	points := faultPoints
	if outage != nil {
		points = append(append([]string(nil), faultPoints...), awsFaultPoints...)
	}
	if o.net != nil {
		points = append(append([]string(nil), points...), o.net.points()...)
	}
	stop := workload(t, dsn, 99, "acct", "ledger")
	seed := o.seed
	if seed == 0 {
		seed = 20261126
	}
	r := rand.New(rand.NewSource(seed))
	run := func(kind string, deadline time.Time) {
		var rep interface{ Failed() bool }
		var err error
		if kind == "wal" {
			rep, err = p.app.Drain(ctx, p.cat, app.RunOptions{MaxBatches: 2, Deadline: deadline})
		} else {
			rep, err = p.app.Sync(ctx, p.cat, app.RunOptions{MaxBatches: 2, Deadline: deadline})
		}
		fig.runs++
		if err != nil || rep.Failed() {
			fig.failures++
		}
		checkSlotBehindBookmark(t, dsn, p)
	}
	for i := 0; i < iterations && !t.Failed(); i++ {
		point := points[r.Intn(len(points))]
		fig.faults[point]++
		if o.progress != nil {
			o.progress(i, point)
		}
		var deadline time.Time
		if o.net != nil && o.net.owns(point) {
			deadline = o.net.apply(point, r) // lifted below
		} else {
			in.arm(point, 1+r.Intn(3))
		}
		run("tables", deadline)
		run("wal", deadline)
		in.arm("", 0)
		if o.net != nil {
			o.net.clear()
		}
		restarts.Wait()
	}
	time.Sleep(100 * time.Millisecond)
	stop()
	// The faults stop; runs go on to completion.
	for i := 0; i < 40; i++ {
		n, _ := drainQuiet(p)
		if n == 0 {
			break
		}
	}
	// Finish the copy under way, then one whole copy of the quiet table.
	for done := false; !done; {
		rep, err := p.app.Sync(ctx, p.cat, app.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s := rep.Streams[0]
		done = !rep.Failed() && s.CopyDone && s.NewVersion
	}
	got := merge(p.rows(streamID(p, "acct")))
	want := tableState(t, dsn, "SELECT id, balance, note FROM acct")
	fig.checked = len(want)
	t.Logf("%d iterations, %d store and commit-step faults fired, %d runs failed and were recovered; %d rows checked", iterations, in.fired, fig.failures, len(want))
	if o.net == nil && in.fired < iterations/2 {
		t.Fatalf("only %d faults fired", in.fired)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("log-based stream: %d rows replicated, table has %d, or they differ", len(got), len(want))
	}
	ledger := tableState(t, dsn, "SELECT id, balance, note FROM ledger")
	fig.checked += len(ledger)
	checkVersions(t, p, streamID(p, "ledger"), ledger)
	checkManifests(t, p)
	if o.stores == nil {
		// The README's loader over the whole output gives the source tables.
		loaded := loadWithLoader(t, p.app.Cfg.Sink.Path)
		for table, want := range map[string]map[string]map[string]any{"acct": want, "ledger": ledger} {
			got := loadedCurrent(t, loaded, streamID(p, table))
			if diff := diffRows(got, want, "id", "balance", "note"); diff != "" {
				t.Fatalf("%s loaded by docs/loader/load-dir.sh differs from the source: %s", table, diff)
			}
			fig.loaderChecked += len(want)
		}
	}
	return fig
}

// diffRows says how got (id -> row) differs from want on cols (empty: not
// at all), comparing values in their JSON form.
func diffRows(got, want map[string]map[string]any, cols ...string) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d rows, the source has %d", len(got), len(want))
	}
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			return "row " + id + " missing"
		}
		for _, c := range cols {
			gb, _ := json.Marshal(g[c])
			wb, _ := json.Marshal(w[c])
			if string(gb) != string(wb) {
				return fmt.Sprintf("row %s column %s: %s, the source has %s", id, c, gb, wb)
			}
		}
	}
	return ""
}

func drainQuiet(p *pipeline) (int64, error) {
	run, err := p.app.Drain(context.Background(), p.cat, app.RunOptions{})
	if err != nil {
		return 0, err
	}
	return run.Rows(), nil
}

// checkSlotBehindBookmark: the slot's confirmed position never passes the
// position committed in the bookmark.
func checkSlotBehindBookmark(t *testing.T, dsn string, p *pipeline) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return // the server is restarting: checked after the next run
	}
	defer conn.Close(ctx)
	var confirmed string
	if err := conn.QueryRow(ctx, "SELECT coalesce(confirmed_flush_lsn::text, '') FROM pg_replication_slots WHERE slot_name = $1", p.app.Cfg.SlotName).Scan(&confirmed); err != nil || confirmed == "" {
		return
	}
	bm, err := p.app.Stores.Bookmarks.Get(ctx, layout.SlotBookmarkID(p.app.Cfg.SlotName))
	for wait := time.Now().Add(30 * time.Second); err != nil && time.Now().Before(wait); {
		// The bookmarks' server may be coming back from a crash (see
		// testenv.DynamoServer.supervise).
		time.Sleep(500 * time.Millisecond)
		bm, err = p.app.Stores.Bookmarks.Get(ctx, layout.SlotBookmarkID(p.app.Cfg.SlotName))
	}
	if err != nil {
		t.Fatal(err)
	}
	var hi, lo uint64
	fmt.Sscanf(confirmed, "%X/%X", &hi, &lo)
	if c := hi<<32 | lo; bm.Rev > 0 && c > bm.State.CommittedLSN {
		t.Fatalf("slot confirmed %s, past the committed bookmark %d", confirmed, bm.State.CommittedLSN)
	}
}

// checkVersions: each table version holds every key at most once, and the
// newest complete version equals the table.
func checkVersions(t *testing.T, p *pipeline, id string, want map[string]map[string]any) {
	t.Helper()
	byVersion := map[string]map[string]map[string]any{}
	var newest string
	for _, r := range p.rows(id) {
		v := fmt.Sprint(r["_sdc_table_version"])
		if byVersion[v] == nil {
			byVersion[v] = map[string]map[string]any{}
		}
		key := fmt.Sprint(r["id"])
		if _, dup := byVersion[v][key]; dup {
			t.Fatalf("version %s holds row %s twice", v, key)
		}
		clean := map[string]any{}
		for k, x := range r {
			if !strings.HasPrefix(k, "_sdc_") {
				clean[k] = x
			}
		}
		byVersion[v][key] = clean
		if v > newest {
			newest = v
		}
	}
	if !reflect.DeepEqual(byVersion[newest], want) {
		t.Fatalf("newest full copy (version %s): %d rows, table has %d, or they differ", newest, len(byVersion[newest]), len(want))
	}
}

// checkManifests: every object a manifest names has the size and checksum
// the manifest says, so a loader never reads a mix of two attempts.
func checkManifests(t *testing.T, p *pipeline) {
	t.Helper()
	ctx := context.Background()
	keys, err := p.app.Stores.Sink.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, k := range keys {
		if !strings.HasSuffix(k, ".manifest.json") {
			continue
		}
		body, _ := p.app.Stores.Sink.Get(ctx, k)
		var m replicate.Manifest
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		for _, o := range m.Objects {
			data, err := p.app.Stores.Sink.Get(ctx, o.Key)
			if err != nil {
				t.Fatalf("%s names %s: %v", k, o.Key, err)
			}
			sum := sha256.Sum256(data)
			if hex.EncodeToString(sum[:]) != o.SHA256 || int64(len(data)) != o.Bytes {
				t.Fatalf("%s names %s with another content than it holds", k, o.Key)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no manifests")
	}
}
