// Package functions_test runs each function's real bootstrap under the
// Lambda Runtime Interface Emulator against private PostgreSQL, S3,
// DynamoDB and Secrets Manager-compatible servers.
package functions_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/encode"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

type result struct {
	RunID      string `json:"run_id"`
	StopReason string `json:"stop_reason"`
	Rows       int64  `json:"rows"`
	Message    string `json:"message"`
	Streams    []struct {
		Stream string `json:"stream"`
		Rows   int64  `json:"rows"`
		Error  string `json:"error"`
	} `json:"streams"`
}

func TestFunctionsUnderEmulator(t *testing.T) {
	h := newHarness(t, "shop", testenv.SampleSchema+testenv.SampleData(200), `PG2S3_SETTINGS={"batch_rows": 100}`)
	ctx, pg, bm, sink := h.ctx, h.pg, h.bm, h.sink
	invoke := func(name string, timeout time.Duration, payload string) (result, error) {
		t.Helper()
		var res result
		err := h.invoke(name, timeout, payload, &res)
		return res, err
	}

	// discover creates the catalog in S3.
	res, err := invoke("discover", 30*time.Second, "{}")
	if err != nil || !strings.Contains(res.Message, "new streams") {
		t.Fatalf("discover: %+v %v", res, err)
	}
	body, err := sink.Get(ctx, "_catalog/catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range cat.Streams {
		switch s.TableName {
		case "customers", "page_views":
			s.SetTableMetadata("selected", true)
			s.SetTableMetadata("replication-method", "FULL_TABLE")
		case "orders":
			s.SetTableMetadata("selected", true)
			s.SetTableMetadata("replication-method", "LOG_BASED")
		}
	}
	body, _ = cat.Marshal()
	if err := sink.Put(ctx, "_catalog/catalog.json", body, "application/json"); err != nil {
		t.Fatal(err)
	}

	res, err = invoke("sync", 30*time.Second, `{"streams": ["shop-shop-customers", "shop-shop-page_views"]}`)
	if err != nil || res.Rows == 0 || len(res.Streams) != 2 {
		t.Fatalf("sync: %+v %v", res, err)
	}
	// A drain with a short function timeout ends before its deadline
	// with its batches committed, however much there is to copy.
	res, err = invoke("wal", 6*time.Second, "{}")
	if err != nil || res.StopReason == "" {
		t.Fatalf("wal: %+v %v", res, err)
	}
	slot, err := bm.Get(ctx, "_slot:pg2s3_shop")
	if err != nil || slot.Rev == 0 || slot.State.CommittedLSN == 0 {
		t.Fatalf("slot bookmark after the drain: %+v %v", slot, err)
	}
	if _, err := invoke("reset", 20*time.Second, `{"stream": "shop-shop-nope"}`); err == nil || !strings.Contains(err.Error(), "shop-shop-customers") {
		t.Fatalf("reset of an unknown stream: %v", err)
	}
	res, err = invoke("reset", 20*time.Second, `{"stream": "shop-shop-customers"}`)
	if err != nil || !strings.Contains(res.Message, "copies it again") {
		t.Fatalf("reset: %+v %v", res, err)
	}
	if _, err := invoke("reset", 20*time.Second, `{"slot": true}`); err == nil || !strings.Contains(err.Error(), "confirm") {
		t.Fatalf("slot reset without confirm: %v", err)
	}
	// The reset customers copy again into a new version; a prune then
	// removes the old one (what the stack's prune schedule sends).
	if res, err = invoke("sync", 30*time.Second, `{"streams": ["shop-shop-customers"]}`); err != nil || res.Rows == 0 || len(res.Streams) != 1 {
		t.Fatalf("sync after reset: %+v %v", res, err)
	}
	res, err = invoke("reset", 20*time.Second, `{"prune": true, "keep": 1}`)
	if err != nil || !strings.HasSuffix(res.Message, "of 1 streams (shop-shop-customers)") || strings.Contains(res.Message, "pruned 0 objects") {
		t.Fatalf("prune: %+v %v", res, err)
	}
	keys, err := sink.List(ctx, "shop-shop-customers/")
	if err != nil {
		t.Fatal(err)
	}
	versions := map[string]bool{}
	for _, k := range keys {
		versions[strings.Split(k, "/")[1]] = true
	}
	if len(versions) != 1 {
		t.Fatalf("versions of customers after the prune: %v", versions)
	}

	// A column added to a selected table is replicated by the next run,
	// without rediscovery, and recorded as selected in the stored catalog.
	if err := testenv.Exec(ctx, pg.DSN("shop"), `ALTER TABLE shop.customers ADD COLUMN loyalty_tier text DEFAULT 'gold'`); err != nil {
		t.Fatal(err)
	}
	if res, err = invoke("sync", 30*time.Second, `{"streams": ["shop-shop-customers"]}`); err != nil || res.Rows == 0 {
		t.Fatalf("sync after ADD COLUMN: %+v %v", res, err)
	}
	if body, err = sink.Get(ctx, "_catalog/catalog.json"); err != nil {
		t.Fatal(err)
	}
	if cat, err = catalog.Parse(body); err != nil {
		t.Fatal(err)
	}
	sels, err := cat.Selections("")
	if err != nil {
		t.Fatal(err)
	}
	for _, sel := range sels {
		if sel.StreamID == "shop-shop-customers" && !slices.Contains(sel.Columns, "loyalty_tier") {
			t.Errorf("the stored catalog does not select the new column: %q", sel.Columns)
		}
	}
	keys, err = sink.List(ctx, "shop-shop-customers/")
	if err != nil {
		t.Fatal(err)
	}
	var last string // the newest version's last data object
	for _, k := range keys {
		if strings.HasSuffix(k, ".jsonl.gz") {
			last = k
		}
	}
	data, err := sink.Get(ctx, last)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := encode.ReadObject(last, data)
	if err != nil || len(rows) == 0 || rows[0]["loyalty_tier"] != "gold" {
		t.Errorf("%s after ADD COLUMN: %v %v", last, rows[:min(len(rows), 1)], err)
	}

	// A drain that fails (a selected column of a log-based table dropped)
	// publishes what the alarms watch: DrainSucceeded 0,
	// which trips the no-successful-drain alarm, and the slot's retained
	// WAL measured from the server, not 0.
	if err := testenv.Exec(ctx, pg.DSN("shop"), `ALTER TABLE shop.orders DROP COLUMN status CASCADE; UPDATE shop.orders SET total = total + 1`); err != nil {
		t.Fatal(err)
	}
	logs, err := h.invokeLogs("wal", 30*time.Second, "{}", &res)
	if err == nil || !strings.Contains(err.Error(), "no longer exists") {
		t.Fatalf("wal after a selected column was dropped: %v", err)
	}
	var drainLine map[string]any
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"DrainSucceeded"`) {
			if err := json.Unmarshal([]byte(line[strings.Index(line, "{"):]), &drainLine); err != nil {
				t.Fatalf("metric line %s: %v", line, err)
			}
		}
	}
	if drainLine == nil || drainLine["DrainSucceeded"] != 0.0 || drainLine["SlotRetainedWALBytes"] == nil || drainLine["SlotRetainedWALBytes"].(float64) <= 0 ||
		drainLine["ReplicationLagSeconds"] != nil || drainLine["Pipeline"] != "shop" {
		t.Fatalf("the failed drain's metrics: %v\n%s", drainLine, logs)
	}
}
