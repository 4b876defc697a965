package app_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/replicate"
)

// TestTruncateEmptiesTheCurrentTable: a TRUNCATE of a LOG_BASED table,
// with changes before it in its own transaction and after it, begins a
// new, empty, activated table version: the current table that a reader
// builds from the active version equals the source again, with no row the
// TRUNCATE wiped.
func TestTruncateEmptiesTheCurrentTable(t *testing.T) {
	for _, plugin := range []string{"pgoutput", "wal2json"} {
		t.Run(plugin, func(t *testing.T) {
			dsn, _ := newDB(t, acctSchema)
			p := newPipeline(t, dsn, map[string]any{"logical_plugin": plugin}, map[string]string{"acct": "LOG_BASED"})
			drain(t, p, app.RunOptions{})
			before := activeVersion(t, p, streamID(p, "acct"))
			if err := execSQL(dsn, `BEGIN;
INSERT INTO acct VALUES (5000, 1, 'wiped');
UPDATE acct SET note = 'wiped too' WHERE id = 1;
TRUNCATE acct;
INSERT INTO acct VALUES (1, 10, 'after'), (2, 20, 'after');
COMMIT;
UPDATE acct SET balance = 11 WHERE id = 1;
INSERT INTO acct VALUES (3, 30, 'later');`); err != nil {
				t.Fatal(err)
			}
			drain(t, p, app.RunOptions{})
			v := activeVersion(t, p, streamID(p, "acct"))
			if v == before {
				t.Fatalf("the TRUNCATE began no new version (still %d)", v)
			}
			sameRows(t, merge(versionRows(t, p, streamID(p, "acct"), v)), tableState(t, dsn, "SELECT id, balance, note FROM acct"))
			// A second drain (nothing new) keeps the version.
			drain(t, p, app.RunOptions{})
			if again := activeVersion(t, p, streamID(p, "acct")); again != v {
				t.Fatalf("active version moved from %d to %d without a TRUNCATE", v, again)
			}
		})
	}
}

// activeVersion returns the newest activated version of a stream.
func activeVersion(t *testing.T, p *pipeline, id string) int64 {
	t.Helper()
	keys, err := p.app.Stores.Sink.List(context.Background(), layout.VersionsPrefix)
	if err != nil {
		t.Fatal(err)
	}
	var v int64
	for _, k := range keys {
		if s, ver, ok := layout.ParseActivationKey(k); ok && s == id && ver > v {
			v = ver
		}
	}
	return v
}

// versionRows returns the rows of one version of a stream, copy and log,
// that the manifests name.
func versionRows(t *testing.T, p *pipeline, id string, version int64) []map[string]any {
	t.Helper()
	ctx := context.Background()
	keys, err := p.app.Stores.Sink.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, k := range keys {
		_, _, isSlot := layout.ParseSlotManifestKey(k)
		o, ok := layout.ParseObject(k)
		if !isSlot && !(ok && o.Kind == layout.CopyManifest) {
			continue
		}
		body, _ := p.app.Stores.Sink.Get(ctx, k)
		var m replicate.Manifest
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		for _, obj := range m.Objects {
			objVersion := obj.TableVersion
			if !isSlot {
				objVersion = m.TableVersion
			}
			if (obj.Stream == id || m.TapStreamID == id) && objVersion == version {
				data, err := p.app.Stores.Sink.Get(ctx, obj.Key)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, readObject(t, obj.Key, data)...)
			}
		}
	}
	return out
}
