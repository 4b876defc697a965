package app_test

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/app"
)

// TestManifestsListTheColumnsTheirObjectsHold follows the README's output
// contract and its limit on added columns: every manifest names its
// objects with size, SHA-256, rows and the columns they hold; a column
// left out of the selection is in no object; a column added to a
// LOG_BASED table is in the objects of its first change and after,
// without rediscovery; a TRUNCATE begins a new version whose copy
// manifest completes it with no objects.
func TestManifestsListTheColumnsTheirObjectsHold(t *testing.T) {
	for _, plugin := range []string{"pgoutput", "wal2json"} {
		t.Run(plugin, func(t *testing.T) {
			dsn, _ := newDB(t, `
CREATE TABLE acct (id bigint PRIMARY KEY, balance numeric(20,2) NOT NULL, note text, secret text);
INSERT INTO acct VALUES (1, 1.50, 'a', 's1'), (2, 3.00, 'b', 's2');`)
			p := newPipeline(t, dsn, map[string]any{"logical_plugin": plugin}, map[string]string{"acct": "LOG_BASED"})
			id := streamID(p, "acct")
			p.cat.Stream(id).SetColumnMetadata("secret", "selected", false)
			if _, done := drain(t, p, app.RunOptions{}); !done {
				t.Fatal("the initial copy of two rows did not finish in one run")
			}
			mustExec(t, dsn, "INSERT INTO acct VALUES (3, 4.50, 'c', 's3'); UPDATE acct SET note = 'A' WHERE id = 1")
			drain(t, p, app.RunOptions{})
			mustExec(t, dsn, "ALTER TABLE acct ADD COLUMN extra int; INSERT INTO acct VALUES (4, 6.00, 'd', 's4', 40)")
			drain(t, p, app.RunOptions{})
			mustExec(t, dsn, "INSERT INTO acct VALUES (5, 7.50, 'e', 's5', 50)")
			drain(t, p, app.RunOptions{})
			before := activeVersion(t, p, id)
			mustExec(t, dsn, "TRUNCATE acct")
			drain(t, p, app.RunOptions{})
			after := activeVersion(t, p, id)

			old := []string{"id", "balance", "note"}
			want := map[string][]string{ // the ids each object holds -> its columns
				"1,2": old, // the initial copy
				"1,3": old, // log: the update and the insert
				// log: added to the table, not in the catalog: followed
				// without rediscovery
				"4": append(slices.Clone(old), "extra"),
				"5": append(slices.Clone(old), "extra"),
			}
			got := map[string][]string{}
			truncated := false
			for _, m := range p.rawManifests(t) {
				checkManifestFields(t, m)
				if v, _ := m["table_version"].(float64); int64(v) == after && after != before {
					objects, _ := m["objects"].([]any)
					truncated = m["version_complete"] == true && len(objects) == 0
				}
				objects, _ := m["objects"].([]any)
				for _, o := range objects {
					obj := o.(map[string]any)
					cols := strings.Split(joinAny(obj["columns"]), ",")
					ids := p.checkObjectColumns(t, obj["key"].(string), cols)
					got[ids] = cols
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("objects by ids -> columns:\n got %v\nwant %v", got, want)
			}
			if !truncated {
				t.Errorf("the TRUNCATE of %s began no version completed by an empty copy manifest (active version %d, then %d)", id, before, after)
			}
		})
	}
}

// checkManifestFields fails unless m has the fields the README's output
// contract names: per copy batch the stream, its JSON Schema, key
// properties, version and sequence flags; for every batch the bookmarks
// and each object's key, size, SHA-256, row count and columns, plus the
// stream, table version and commit LSNs of log objects.
func checkManifestFields(t *testing.T, m map[string]any) {
	t.Helper()
	common := []string{"format", "data_format", "tap_stream_id", "table_version", "sequence", "objects", "rows",
		"bookmark_before", "bookmark_after", "version_started", "version_complete"}
	objFields := []string{"key", "bytes", "sha256", "rows", "columns"}
	if m["stream"] == "_slot" {
		objFields = append(objFields, "stream", "table_version", "lsn_first", "lsn_last")
	} else {
		common = append(common, "stream", "schema", "key_properties")
	}
	for _, f := range common {
		if _, ok := m[f]; !ok {
			t.Errorf("manifest of %v lacks %q", m["tap_stream_id"], f)
		}
	}
	objects, ok := m["objects"].([]any)
	if !ok {
		t.Errorf("manifest of %v: objects %v is not a list", m["tap_stream_id"], m["objects"])
	}
	for _, o := range objects {
		for _, f := range objFields {
			if _, ok := o.(map[string]any)[f]; !ok {
				t.Errorf("manifest of %v: object %v lacks %q", m["tap_stream_id"], o, f)
			}
		}
	}
}

// checkObjectColumns reads the object at key, fails when a row carries a
// table column outside cols or an insert lacks one of cols, and returns
// the row ids, sorted and joined by commas.
func (p *pipeline) checkObjectColumns(t *testing.T, key string, cols []string) string {
	t.Helper()
	body, err := p.app.Stores.Sink.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, row := range readObject(t, key, body) {
		var fields []string
		for f := range row {
			if !strings.HasPrefix(f, "_sdc_") {
				fields = append(fields, f)
			}
		}
		sort.Strings(fields)
		want := slices.Sorted(slices.Values(cols))
		if row["_sdc_deleted_at"] == nil && !slices.Equal(fields, want) {
			t.Errorf("%s: row %v holds columns %v; its manifest says %v", key, row["id"], fields, cols)
		}
		ids = append(ids, joinAny(row["id"]))
	}
	sort.Strings(ids)
	return strings.Join(ids, ",")
}

// rawManifests returns every manifest in the sink as decoded JSON.
func (p *pipeline) rawManifests(t *testing.T) []map[string]any {
	t.Helper()
	ctx := context.Background()
	keys, err := p.app.Stores.Sink.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, k := range keys {
		if !strings.HasSuffix(k, ".manifest.json") {
			continue
		}
		b, err := p.app.Stores.Sink.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		t.Fatal("the sink holds no manifest")
	}
	return out
}

// rediscover refreshes the pipeline's catalog the way pg2s3 discover
// does, keeping its selections.
func (p *pipeline) rediscover(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	const key = "_catalog/catalog.json"
	if _, err := p.app.RefreshCatalog(ctx, p.cat, key); err != nil {
		t.Fatal(err)
	}
	var err error
	if p.cat, err = p.app.StoredCatalog(ctx, key); err != nil {
		t.Fatal(err)
	}
}

func mustExec(t *testing.T, dsn, sql string) {
	t.Helper()
	if err := execSQL(dsn, sql); err != nil {
		t.Fatal(err)
	}
}

// joinAny prints a JSON value: a list joined by commas, else the value.
func joinAny(v any) string {
	if l, ok := v.([]any); ok {
		s := make([]string, len(l))
		for i, x := range l {
			s[i] = joinAny(x)
		}
		return strings.Join(s, ",")
	}
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}
