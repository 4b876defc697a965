package replicate_test

import (
	"encoding/json"
	"testing"

	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/replicate"
)

// A STATE file as tap-postgres writes it.
const tapState = `{
  "currently_syncing": null,
  "bookmarks": {
    "shop-public-orders": {"version": 1700000000000, "last_replication_method": "INCREMENTAL",
      "replication_key": "updated_at", "replication_key_value": "2024-03-01T10:00:00.123456+00:00"},
    "shop-public-items": {"version": 1700000000001, "last_replication_method": "INCREMENTAL",
      "replication_key": "id", "replication_key_value": 12345678901234567890},
    "shop-public-customers": {"version": 1700000000002, "last_replication_method": "FULL_TABLE", "xmin": 1234},
    "shop-public-products": {"version": 1700000000003, "last_replication_method": "FULL_TABLE"},
    "shop-public-events": {"version": 1700000000004, "last_replication_method": "LOG_BASED", "lsn": 24023928}
  }
}`

func TestStateImportExportRoundTrip(t *testing.T) {
	f := newFixture(t, "")
	ids, err := replicate.ImportState(f.ctx, f.bms, []byte(tapState), timeNow())
	if err != nil || len(ids) != 5 {
		t.Fatalf("import: %v %v", ids, err)
	}
	get := func(id string) (v struct {
		m, rk, val string
		ver        int64
		done       bool
		lsn        uint64
	}) {
		b, err := f.bms.Get(f.ctx, id)
		if err != nil || b.Rev == 0 {
			t.Fatalf("%s: %+v %v", id, b, err)
		}
		v.m, v.rk, v.ver, v.done, v.lsn = b.State.Method, b.State.ReplicationKey, b.State.Version, b.State.CopyDone, b.State.StartLSN
		if b.State.ReplicationKeyValue != nil {
			v.val = *b.State.ReplicationKeyValue
		}
		return v
	}
	if o := get("shop-public-orders"); o.m != record.Incremental || o.rk != "updated_at" || o.val != "2024-03-01T10:00:00.123456+00:00" || o.ver != 1700000000000 {
		t.Fatalf("orders: %+v", o)
	}
	if o := get("shop-public-items"); o.val != "12345678901234567890" {
		t.Fatalf("numeric key value lost digits: %+v", o)
	}
	if o := get("shop-public-customers"); o.done {
		t.Fatalf("unfinished xmin copy imported as done: %+v", o)
	}
	if o := get("shop-public-products"); !o.done {
		t.Fatalf("finished copy imported as unfinished: %+v", o)
	}
	if o := get("shop-public-events"); o.lsn != 24023928 || !o.done {
		t.Fatalf("log-based: %+v", o)
	}
	exp, err := replicate.ExportState(f.ctx, f.bms)
	if err != nil {
		t.Fatal(err)
	}
	b := exp.Bookmarks["shop-public-orders"]
	if b.Version != 1700000000000 || b.LastReplicationMethod != "INCREMENTAL" || b.ReplicationKey != "updated_at" || string(b.ReplicationKeyValue) != `"2024-03-01T10:00:00.123456+00:00"` {
		t.Fatalf("export: %+v", b)
	}
	if exp.Bookmarks["shop-public-events"].LSN != 24023928 {
		t.Fatalf("export lsn: %+v", exp.Bookmarks["shop-public-events"])
	}
	// Export, import into a fresh store, export again: identical.
	doc, _ := json.Marshal(exp)
	g := newFixture(t, "")
	if _, err := replicate.ImportState(g.ctx, g.bms, doc, timeNow()); err != nil {
		t.Fatal(err)
	}
	exp2, _ := replicate.ExportState(g.ctx, g.bms)
	a, _ := json.Marshal(exp)
	c, _ := json.Marshal(exp2)
	if string(a) != string(c) {
		t.Fatalf("round trip differs:\n%s\n%s", a, c)
	}
}
