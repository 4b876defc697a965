package layout_test

import (
	"slices"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/layout"
)

// streams are tap_stream_ids as they come: table names may hold "/",
// "-", spaces, anything unicode, even what looks like a version folder.
var streams = []string{"db-public-orders", "db-public-a/b", "db-public-Order Items", "db-s-x-y", "bä-öffentlich-Straße/€", "db-s-a/v5", "db-s-a/v5/v6"}

func TestStreamKeysRoundTrip(t *testing.T) {
	for _, stream := range streams {
		for _, f := range []layout.Format{layout.JSONL, layout.Parquet} {
			for _, want := range []layout.Object{
				{Stream: stream, Version: 1795660766450, Kind: layout.Data, Seq: 0, Format: f},
				{Stream: stream, Version: 7, Kind: layout.Data, Seq: 12345678901, Format: f},
				{Stream: stream, Version: 1795660766450, Kind: layout.WALData, Seq: 42, Format: f},
				{Stream: stream, Version: 1795660766450, Kind: layout.CopyManifest, Seq: 3},
			} {
				var key string
				switch want.Kind {
				case layout.Data:
					key = layout.DataKey(want.Stream, want.Version, want.Seq, want.Format)
				case layout.WALData:
					key = layout.WALDataKey(want.Stream, want.Version, want.Seq, want.Format)
				case layout.CopyManifest:
					key = layout.CopyManifestKey(want.Stream, want.Version, want.Seq)
				}
				if got, ok := layout.ParseObject(key); !ok || got != want {
					t.Errorf("%s: parsed %+v %v, want %+v", key, got, ok, want)
				}
				if s, v, ok := layout.ParseVersionFolder(key); !ok || s != stream || v != want.Version {
					t.Errorf("%s: folder of %q %d %v", key, s, v, ok)
				}
			}
		}
		key := layout.ActivationKey(stream, 1795660766450)
		if got, v, ok := layout.ParseActivationKey(key); !ok || got != stream || v != 1795660766450 {
			t.Errorf("%s: parsed %q %d %v", key, got, v, ok)
		}
	}
}

// TestKeysAsWritten pins the layout: sinks already hold these keys.
func TestKeysAsWritten(t *testing.T) {
	started := time.Date(2025, 3, 14, 10, 0, 5, 999, time.UTC)
	for got, want := range map[string]string{
		layout.DataKey("db-s-t", 9, 2, layout.JSONL):      "db-s-t/v9/0000000002.jsonl.gz",
		layout.DataKey("db-s-t", 9, 2, ""):                "db-s-t/v9/0000000002.jsonl.gz",
		layout.DataKey("db-s-t", 9, 2, layout.Parquet):    "db-s-t/v9/0000000002.parquet",
		layout.WALDataKey("db-s-t", 9, 2, layout.JSONL):   "db-s-t/v9/wal-0000000002.jsonl.gz",
		layout.WALDataKey("db-s-t", 9, 2, layout.Parquet): "db-s-t/v9/wal-0000000002.parquet",
		layout.CopyManifestKey("db-s-t", 9, 2):            "db-s-t/v9/_0000000002.manifest.json",
		layout.SlotManifestKey("pg2s3_db", 42):            "_wal/pg2s3_db/0000000042.manifest.json",
		layout.ActivationKey("db-s-t", 9):                 "versions/db-s-t/v9.json",
		layout.RunReportKey(started, "sync", "0a1b2c"):    "_runs/20250314T100005Z-sync-0a1b2c.json",
		layout.SlotBookmarkID("pg2s3_db"):                 "_slot:pg2s3_db",
		layout.StreamPrefix("db-s-t"):                     "db-s-t/",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestParseObjectRejectsForeignKeys(t *testing.T) {
	for _, key := range []string{
		"db-s-t/notes.txt", "db-s-t/v9/notes.txt", "db-s-t/v9/", "db-s-t/vx/0000000002.jsonl.gz", "db-s-t/v-9/0000000002.jsonl.gz",
		"db-s-t/9/0000000002.jsonl.gz", "/v9/0000000002.jsonl.gz", "v9/0000000002.jsonl.gz",
		"db-s-t/v9/0000000002.csv", "db-s-t/v9/+2.jsonl.gz", "db-s-t/v9/.jsonl.gz", "db-s-t/v9/wal-.parquet", "db-s-t/v9/wal-x.parquet",
		"db-s-t/v9/_x.manifest.json", "db-s-t/v9/0000000002.manifest.json", "db-s-t/v9/_0000000002.json",
		"_wal/pg2s3_db/0000000042.manifest.json", "versions/db-s-t/v9.json", "_runs/20250314T100005Z-sync-0a1b2c.json", "_catalog/catalog.json",
	} {
		if o, ok := layout.ParseObject(key); ok {
			t.Errorf("%s parsed as %+v", key, o)
		}
	}
	for _, key := range []string{"db-s-t/notes.txt", "db-s-t/v9/", "/v9/x", "db-s-t/v9x/a", "versions/db-s-t/v9.json"} {
		if s, v, ok := layout.ParseVersionFolder(key); ok {
			t.Errorf("%s taken for a version folder of %q: %d", key, s, v)
		}
	}
	// Whatever a version folder holds, it is the version's.
	if s, v, ok := layout.ParseVersionFolder("db-s-a/b/v5/notes.txt"); !ok || s != "db-s-a/b" || v != 5 {
		t.Errorf("folder of a foreign file: %q %d %v", s, v, ok)
	}
}

func TestSlotManifestKeys(t *testing.T) {
	for _, slot := range []string{"pg2s3_db", "stitch_shop", "x"} {
		for _, seq := range []int64{0, 42, 12345678901} {
			key := layout.SlotManifestKey(slot, seq)
			if s, n, ok := layout.ParseSlotManifestKey(key); !ok || s != slot || n != seq {
				t.Errorf("%s: parsed %q %d %v", key, s, n, ok)
			}
		}
	}
	for _, key := range []string{"_wal/s/x.manifest.json", "_wal/s/1.json", "_wal/s/a/1.manifest.json", "db/_wal/s/1.manifest.json",
		"_wal//1.manifest.json", "_wal/s", "_wal/s/-1.manifest.json", "db-s-t/v9/_0000000002.manifest.json"} {
		if s, n, ok := layout.ParseSlotManifestKey(key); ok {
			t.Errorf("%s taken for slot %q's manifest %d", key, s, n)
		}
	}
}

func TestActivationKeysRejectForeignKeys(t *testing.T) {
	for _, bad := range []string{"versions/v1.json", "versions/s/v1.txt", "versions/s/vx.json", "_wal/s/v1.json", "versions/s/1.json", "versions//v1.json", "versions/s/v+1.json"} {
		if s, v, ok := layout.ParseActivationKey(bad); ok {
			t.Errorf("%s parsed as a marker of %q %d", bad, s, v)
		}
	}
}

func TestRunReportKeys(t *testing.T) {
	started := time.Date(2025, 3, 14, 10, 0, 5, 123456789, time.UTC)
	for _, c := range []struct{ kind, id string }{{"sync", "0a1b2c3d4e5f"}, {"wal", "c0ffee"}, {"sync", "6f1c-4b2a-9e0d"}} {
		key := layout.RunReportKey(started, c.kind, c.id)
		at, kind, id, ok := layout.ParseRunReportKey(key)
		if !ok || !at.Equal(started.Truncate(time.Second)) || at.Location() != time.UTC || kind != c.kind || id != c.id {
			t.Errorf("%s: parsed %v %q %q %v", key, at, kind, id, ok)
		}
	}
	for _, bad := range []string{"_runs/notes.txt", "_runs/notes.json", "_runs/20250314T100005Z.json", "_runs/20250314T100005Z-sync.json",
		"_runs/20250314T100005Z-sync-.json", "_runs/20250314T100005Z--x.json", "_runs/20251314T100005Z-sync-x.json",
		"_runs/20250314T100005Z-sync-x.txt", "_runs/x/20250314T100005Z-sync-x.json", "runs/20250314T100005Z-sync-x.json"} {
		if at, kind, id, ok := layout.ParseRunReportKey(bad); ok {
			t.Errorf("%s parsed as a run report: %v %q %q", bad, at, kind, id)
		}
	}
}

func TestBookmarkIDs(t *testing.T) {
	id := layout.SlotBookmarkID("pg2s3_db")
	if slot, ok := layout.ParseSlotBookmarkID(id); !ok || slot != "pg2s3_db" {
		t.Errorf("%s: parsed %q %v", id, slot, ok)
	}
	for _, bad := range []string{"_slot:", "slot:x", "db-public-t", "_slotx"} {
		if slot, ok := layout.ParseSlotBookmarkID(bad); ok {
			t.Errorf("%s taken for slot %q's bookmark", bad, slot)
		}
	}
	for id, want := range map[string]bool{"db-public-t": true, "db-public-a/b": true, id: false, "_other": false, "": false} {
		if layout.IsStreamID(id) != want {
			t.Errorf("IsStreamID(%q) = %v", id, !want)
		}
	}
}

func TestFormatsAndMethods(t *testing.T) {
	for f, want := range map[layout.Format]bool{layout.JSONL: true, layout.Parquet: true, "": false, "csv": false, "JSONL": false} {
		if f.Valid() != want {
			t.Errorf("%q.Valid() = %v", f, !want)
		}
	}
	if !slices.Equal(layout.Methods(), []layout.Method{"FULL_TABLE", "INCREMENTAL", "LOG_BASED"}) {
		t.Errorf("methods %v", layout.Methods())
	}
}
