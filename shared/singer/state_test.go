package singer

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/localstore"
)

// newBookmarks is an empty bookmark store.
func newBookmarks(t *testing.T) *localstore.File {
	t.Helper()
	bms, err := localstore.NewFile(filepath.Join(t.TempDir(), "bookmarks.json"))
	if err != nil {
		t.Fatal(err)
	}
	return bms
}

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
	ctx, bms := context.Background(), newBookmarks(t)
	ids, err := ImportState(ctx, bms, []byte(tapState), time.Now())
	if err != nil || len(ids) != 5 {
		t.Fatalf("import: %v %v", ids, err)
	}
	get := func(id string) (v struct {
		m       layout.Method
		rk, val string
		ver     int64
		done    bool
		lsn     uint64
	}) {
		b, err := bms.Get(ctx, id)
		if err != nil || b.Rev == 0 {
			t.Fatalf("%s: %+v %v", id, b, err)
		}
		v.m, v.rk, v.ver, v.done, v.lsn = b.State.Method, b.State.ReplicationKey, b.State.Version, b.State.CopyDone, b.State.StartLSN
		if b.State.ReplicationKeyValue != nil {
			v.val = *b.State.ReplicationKeyValue
		}
		return v
	}
	if o := get("shop-public-orders"); o.m != layout.Incremental || o.rk != "updated_at" || o.val != "2024-03-01T10:00:00.123456+00:00" || o.ver != 1700000000000 {
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
	exp, err := ExportState(ctx, bms)
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
	fresh := newBookmarks(t)
	if _, err := ImportState(ctx, fresh, doc, time.Now()); err != nil {
		t.Fatal(err)
	}
	exp2, _ := ExportState(ctx, fresh)
	a, _ := json.Marshal(exp)
	c, _ := json.Marshal(exp2)
	if string(a) != string(c) {
		t.Fatalf("round trip differs:\n%s\n%s", a, c)
	}
}

// TestTapBookmarkHasOnlyTapPostgresKeys checks each method's
// bookmark: the keys tap-postgres writes (it rejects others in an
// INCREMENTAL bookmark), and a LOG_BASED lsn that never goes back before
// the stream's start position.
func TestTapBookmarkHasOnlyTapPostgresKeys(t *testing.T) {
	val := "2024-03-01T10:00:00.123456Z"
	cases := []struct {
		name      string
		st        bookmark.State
		committed uint64
		want      string
	}{
		{"full table", bookmark.State{Method: layout.FullTable, Version: 7, Seq: 3, LastKey: []string{"9"}, CopyDone: true}, 500,
			`{"version":7,"last_replication_method":"FULL_TABLE"}`},
		{"incremental", bookmark.State{Method: layout.Incremental, Version: 8, ReplicationKey: "updated_at", ReplicationKeyValue: &val, LastKey: []string{"4"}}, 500,
			`{"version":8,"last_replication_method":"INCREMENTAL","replication_key":"updated_at","replication_key_value":"2024-03-01T10:00:00.123456Z"}`},
		{"incremental before its first row", bookmark.State{Method: layout.Incremental, Version: 8, ReplicationKey: "id"}, 0,
			`{"version":8,"last_replication_method":"INCREMENTAL","replication_key":"id"}`},
		{"log-based copy", bookmark.State{Method: layout.LogBased, Version: 9, StartLSN: 1000}, 0,
			`{"version":9,"last_replication_method":"LOG_BASED","lsn":1000}`},
		{"log-based, slot behind the start", bookmark.State{Method: layout.LogBased, Version: 9, StartLSN: 1000, CopyDone: true}, 600,
			`{"version":9,"last_replication_method":"LOG_BASED","lsn":1000}`},
		{"log-based, slot past the start", bookmark.State{Method: layout.LogBased, Version: 9, StartLSN: 1000, CopyDone: true}, 2000,
			`{"version":9,"last_replication_method":"LOG_BASED","lsn":2000}`},
	}
	for _, tc := range cases {
		got, err := json.Marshal(tapBookmark(tc.st, tc.committed))
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: got %s (%v), want %s", tc.name, got, err, tc.want)
		}
	}
}

// TestExportStateLSNFollowsTheSlot checks a LOG_BASED stream's exported
// lsn is the slot's committed position once the drain has passed the
// stream's start, so tap-postgres resumes the log where pg2s3 stopped.
func TestExportStateLSNFollowsTheSlot(t *testing.T) {
	ctx, bms := context.Background(), newBookmarks(t)
	put := func(id string, st bookmark.State) {
		if _, err := bms.Put(ctx, id, st, 0); err != nil {
			t.Fatal(err)
		}
	}
	put(layout.SlotBookmarkID("s"), bookmark.State{Method: "SLOT", Seq: 4, CommittedLSN: 5000})
	put("db-public-a", bookmark.State{Method: layout.LogBased, Version: 1, StartLSN: 3000, CopyDone: true})
	put("db-public-b", bookmark.State{Method: layout.LogBased, Version: 2, StartLSN: 7000})
	exp, err := ExportState(ctx, bms)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := exp.Bookmarks["db-public-a"].LSN, exp.Bookmarks["db-public-b"].LSN; a != 5000 || b != 7000 {
		t.Fatalf("lsn a %d (want the slot's 5000), b %d (want its start 7000)", a, b)
	}
	if _, ok := exp.Bookmarks[layout.SlotBookmarkID("s")]; ok {
		t.Fatal("the slot's own bookmark was exported as a stream")
	}
}
