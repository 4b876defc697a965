package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// TestSingerReplay replicates a FULL_TABLE, an INCREMENTAL and a
// LOG_BASED table through inserts, updates, deletes, a truncate and
// resets (so each has several table versions), replays them with
// pg2s3 singer, checks the message grammar, and applies the messages as a
// Singer target does: the result is the source tables. It runs once per
// data format of the sink, the Parquet run with tap-postgres' debug_lsn
// and include_schemas_in_destination_stream_name.
func TestSingerReplay(t *testing.T) {
	for _, format := range []string{"jsonl", "parquet"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			singerReplay(t, format)
		})
	}
}

func singerReplay(t *testing.T, format string) {
	db, config := cliDB(t, "singer", `
CREATE TABLE ft (id int PRIMARY KEY, name text, amount numeric(12,2));
CREATE TABLE inc (id int PRIMARY KEY, name text, rev bigint NOT NULL);
CREATE TABLE lb (id int PRIMARY KEY, name text, flag boolean);
INSERT INTO ft SELECT g, 'f' || g, g * 1.25 FROM generate_series(1, 25) g;
INSERT INTO inc SELECT g, 'i' || g, g FROM generate_series(1, 25) g;
INSERT INTO lb SELECT g, 'l' || g, g % 2 = 0 FROM generate_series(1, 25) g;`)
	dsn := testPG.DSN(db)
	dir := t.TempDir()
	cfg := config(map[string]any{"batch_rows": 7,
		"sink":      map[string]any{"type": "local", "path": filepath.Join(dir, "out"), "format": format},
		"bookmarks": map[string]any{"type": "file", "path": filepath.Join(dir, "bm.json")},
		"debug_lsn": format == "parquet", "include_schemas_in_destination_stream_name": format == "parquet",
		"rows_per_range": 10})
	prefix := "" // of Singer stream names
	if format == "parquet" {
		prefix = "public-"
	}
	catPath := selectStreams(t, cfg, dir, map[string]string{"ft": "FULL_TABLE", "inc": "INCREMENTAL:rev", "lb": "LOG_BASED"})
	id := func(table string) string { return db + "-public-" + table }
	step := func(sql string, resets ...string) {
		t.Helper()
		if sql != "" {
			if err := testenv.Exec(context.Background(), dsn, sql); err != nil {
				t.Fatal(err)
			}
		}
		for _, table := range resets {
			if code, _, errOut := run("reset", "--config", cfg, "--catalog", catPath, "--stream", id(table)); code != 0 {
				t.Fatalf("reset %s: %s", table, errOut)
			}
		}
		sync := []string{"sync", "--config", cfg, "--catalog", catPath}
		if format == "parquet" {
			// Copies in key ranges (ft's every version, lb's after its
			// reset) replay the same.
			sync = append(sync, "--parallel", "2")
		}
		if code, out, errOut := run(sync...); code != 0 {
			t.Fatalf("sync: %s\n%s", out, errOut)
		}
	}
	step("")
	step(`
INSERT INTO ft VALUES (26, 'new', 9.99); UPDATE ft SET name = 'changed' WHERE id < 4; DELETE FROM ft WHERE id IN (5, 6);
INSERT INTO inc VALUES (26, 'new', 100), (27, 'new', 101); UPDATE inc SET name = 'changed', rev = 200 + id WHERE id < 4;
DELETE FROM inc WHERE id = 10;
INSERT INTO lb VALUES (26, 'new', true); UPDATE lb SET name = 'changed' WHERE id < 4; DELETE FROM lb WHERE id IN (5, 6);
TRUNCATE lb; INSERT INTO lb SELECT g, 'after truncate', true FROM generate_series(1, 12) g;`)
	// The resets start second versions of inc and lb (ft has a version per copy).
	step(`UPDATE lb SET flag = false WHERE id = 7; INSERT INTO lb VALUES (40, 'before copy', NULL); DELETE FROM lb WHERE id = 8;
UPDATE inc SET rev = 300, name = 'before reset' WHERE id = 20;`, "inc", "lb")
	step(`
UPDATE ft SET amount = -1 WHERE id = 1; DELETE FROM ft WHERE id = 26;
INSERT INTO inc VALUES (30, 'late', 400); UPDATE inc SET rev = 401 WHERE id = 2;
INSERT INTO lb VALUES (41, 'late', true); UPDATE lb SET name = 'late' WHERE id = 1; DELETE FROM lb WHERE id IN (2, 40);`)

	if bms := readBookmarks(t, filepath.Join(dir, "bm.json")); format == "parquet" && (!strings.Contains(bms, "_range:"+id("ft")) || !strings.Contains(bms, "_range:"+id("lb"))) {
		t.Fatalf("ft and lb were not copied in ranges: %s", bms)
	}
	streams := []string{"lb", "ft", "inc"}
	args := []string{"singer", "--config", cfg}
	for _, s := range streams {
		args = append(args, "--stream", id(s))
	}
	for _, all := range []bool{true, false} {
		t.Run(fmt.Sprintf("all-versions=%v", all), func(t *testing.T) {
			a := args
			if all {
				a = append(slices.Clone(args), "--all-versions")
			}
			code, out, errOut := run(a...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			tgt := applyMessages(t, out, prefix)
			for _, table := range streams {
				want := sourceRows(t, dsn, table)
				if got := tgt.table(prefix + table); !reflect.DeepEqual(got, want) {
					t.Errorf("%s: a target holds\n%v\nthe table holds\n%v", table, got, want)
				}
			}
			if got := tgt.lastState["bookmarks"].(map[string]any)[id("inc")].(map[string]any)["replication_key_value"]; got != "401" {
				t.Errorf("inc's last replication_key_value %v, want \"401\"", got)
			}
			// ft has a version per completed copy: by default only the current one is loaded.
			if ftRows := len(sourceRows(t, dsn, "ft")); !all && tgt.records[prefix+"ft"] != ftRows {
				t.Errorf("ft: %d records replayed, want one copy of its %d rows", tgt.records[prefix+"ft"], ftRows)
			}
			versions := len(tgt.activated[prefix+"ft"])
			if all && versions != 4 || !all && versions != 1 {
				t.Errorf("ft: %d versions activated (all versions: %v)", versions, all)
			}
			// lb's TRUNCATE began a version of its own (then the reset
			// another): replayed as ACTIVATE_VERSIONs, no note needed.
			if strings.Contains(errOut, "truncated") {
				t.Errorf("a truncate note for a TRUNCATE that began a version: %s", errOut)
			}
			if lbVersions := len(tgt.activated[prefix+"lb"]); all && lbVersions != 3 || !all && lbVersions != 1 {
				t.Errorf("lb: %d versions activated (all versions: %v), want the copy's, the TRUNCATE's and the reset's", lbVersions, all)
			}
		})
	}
	// The replayed lsn never passes what pg2s3 committed.
	_, state, _ := run("state", "export", "--config", cfg)
	var exp struct {
		Bookmarks map[string]struct{ LSN uint64 } `json:"bookmarks"`
	}
	if err := json.Unmarshal([]byte(state), &exp); err != nil {
		t.Fatal(err)
	}
	_, out, _ := run("singer", "--config", cfg, "--stream", id("lb"))
	tgt := applyMessages(t, out, prefix)
	lsn, _ := tgt.lastState["bookmarks"].(map[string]any)[id("lb")].(map[string]any)["lsn"].(json.Number).Int64()
	if lsn <= 0 || uint64(lsn) > exp.Bookmarks[id("lb")].LSN {
		t.Errorf("replayed lsn %d, exported %d", lsn, exp.Bookmarks[id("lb")].LSN)
	}
}

func TestSingerErrors(t *testing.T) {
	db, config := cliDB(t, "singer_err", "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);")
	dir := t.TempDir()
	cfg := config(map[string]any{
		"sink":      map[string]any{"type": "local", "path": filepath.Join(dir, "out")},
		"bookmarks": map[string]any{"type": "file", "path": filepath.Join(dir, "bm.json")}})
	code, out, errOut := run("singer", "--config", cfg, "--stream", db+"-public-t")
	if code != 1 || out != "" || !strings.Contains(errOut, "holds no replicated stream yet: run pg2s3 sync first") {
		t.Fatalf("empty sink: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	catPath := selectStreams(t, cfg, dir, map[string]string{"t": "FULL_TABLE"})
	if code, _, errOut := run("sync", "--config", cfg, "--catalog", catPath); code != 0 {
		t.Fatal(errOut)
	}
	code, out, errOut = run("singer", "--config", cfg, "--stream", db+"-public-t", "--stream", "nope")
	if code != 1 || out != "" || !strings.Contains(errOut, `unknown stream "nope"`) || !strings.Contains(errOut, db+"-public-t") {
		t.Fatalf("unknown stream: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, _, errOut := run("singer", "--config", cfg); code != 2 || !strings.Contains(errOut, db+"-public-t") {
		t.Fatalf("no --stream: exit %d, stderr %q", code, errOut)
	}
}

// target applies Singer messages as a target does (upsert by
// key_properties, delete when _sdc_deleted_at is set, ACTIVATE_VERSION
// drops rows of older versions) and checks the message grammar.
type target struct {
	t         *testing.T
	prefix    string                    // of stream names: "" or "<schema>-"
	schemas   map[string]map[string]any // stream -> last SCHEMA message
	rows      map[string]map[string]targetRow
	maxVer    map[string]int64          // stream -> newest version seen
	activated map[string]map[int64]bool // stream -> versions activated
	recVers   map[string]map[int64]bool // stream -> versions of records
	records   map[string]int
	lastState map[string]any
	last      string // the last message's type
}

type targetRow struct {
	version int64
	rec     map[string]any
}

func applyMessages(t *testing.T, out, prefix string) *target {
	t.Helper()
	tg := &target{t: t, prefix: prefix, schemas: map[string]map[string]any{}, rows: map[string]map[string]targetRow{}, maxVer: map[string]int64{},
		activated: map[string]map[int64]bool{}, recVers: map[string]map[int64]bool{}, records: map[string]int{}}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("line %d is not JSON: %v", n, err)
		}
		tg.apply(n, m)
	}
	if n == 0 || tg.last != "STATE" {
		t.Fatalf("%d messages, the last one %s, want a STATE last", n, tg.last)
	}
	for stream, vs := range tg.activated {
		for v := range vs {
			if !tg.recVers[stream][v] {
				t.Errorf("%s: ACTIVATE_VERSION %d has no RECORD of that version", stream, v)
			}
		}
	}
	return tg
}

func (tg *target) apply(n int, m map[string]any) {
	t := tg.t
	t.Helper()
	typ, _ := m["type"].(string)
	tg.last = typ
	stream, _ := m["stream"].(string)
	version := intOf(m["version"])
	switch typ {
	case "SCHEMA":
		if _, ok := m["schema"].(map[string]any)["properties"].(map[string]any); !ok || m["key_properties"] == nil || m["bookmark_properties"] == nil {
			t.Fatalf("line %d: SCHEMA lacks properties, key_properties or bookmark_properties: %v", n, m)
		}
		tg.schemas[stream] = m
	case "ACTIVATE_VERSION":
		if version < tg.maxVer[stream] {
			t.Fatalf("line %d: ACTIVATE_VERSION %d of %s after records of version %d", n, version, stream, tg.maxVer[stream])
		}
		tg.maxVer[stream] = version
		if tg.activated[stream] == nil {
			tg.activated[stream] = map[int64]bool{}
		}
		tg.activated[stream][version] = true
		for k, r := range tg.rows[stream] {
			if r.version < version {
				delete(tg.rows[stream], k)
			}
		}
	case "RECORD":
		tg.record(n, stream, version, m)
	case "STATE":
		tg.state(n, m["value"].(map[string]any))
	default:
		t.Fatalf("line %d: unknown message type %q", n, typ)
	}
}

func (tg *target) record(n int, stream string, version int64, m map[string]any) {
	t := tg.t
	schema := tg.schemas[stream]
	if schema == nil {
		t.Fatalf("line %d: RECORD of %s before its SCHEMA", n, stream)
	}
	if version <= 0 || version < tg.maxVer[stream] {
		t.Fatalf("line %d: RECORD version %d of %s after version %d", n, version, stream, tg.maxVer[stream])
	}
	tg.maxVer[stream] = version
	if tg.recVers[stream] == nil {
		tg.recVers[stream] = map[int64]bool{}
	}
	tg.recVers[stream][version] = true
	if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(m["time_extracted"])); err != nil {
		t.Fatalf("line %d: time_extracted: %v", n, err)
	}
	rec := m["record"].(map[string]any)
	props := schema["schema"].(map[string]any)["properties"].(map[string]any)
	logPhase := slices.Equal(anyStrings(schema["bookmark_properties"]), []string{"lsn"})
	for k, v := range rec {
		if _, ok := props[k]; !ok {
			t.Fatalf("line %d: field %q of %s is not in its SCHEMA", n, k, stream)
		}
		debugLSN := k == "_sdc_lsn" && tg.prefix != "" // the run with debug_lsn
		if strings.HasPrefix(k, "_sdc_") && (k != "_sdc_deleted_at" && !debugLSN || !logPhase) {
			t.Fatalf("line %d: %s carries %s", n, stream, k)
		}
		if _, err := strconv.ParseUint(fmt.Sprint(v), 10, 64); debugLSN && err != nil {
			t.Fatalf("line %d: _sdc_lsn %#v is not an LSN in a string", n, v)
		}
	}
	if _, ok := rec["_sdc_lsn"]; logPhase && tg.prefix != "" && !ok {
		t.Fatalf("line %d: a log change of %s without _sdc_lsn (debug_lsn)", n, stream)
	}
	if _, ok := rec["_sdc_deleted_at"]; logPhase && !ok {
		t.Fatalf("line %d: a log change of %s without _sdc_deleted_at", n, stream)
	}
	var key []string
	for _, k := range anyStrings(schema["key_properties"]) {
		key = append(key, fmt.Sprint(rec[k]))
	}
	k := strings.Join(key, "|")
	if tg.rows[stream] == nil {
		tg.rows[stream] = map[string]targetRow{}
	}
	tg.records[stream]++
	if rec["_sdc_deleted_at"] != nil {
		delete(tg.rows[stream], k)
		return
	}
	tg.rows[stream][k] = targetRow{version: version, rec: rec}
}

// state checks a STATE holds tap-postgres bookmarks: the keys it writes
// per method (it rejects others in INCREMENTAL bookmarks) and the version
// of the stream's records.
func (tg *target) state(n int, v map[string]any) {
	t := tg.t
	if cs, ok := v["currently_syncing"]; !ok || cs != nil && fmt.Sprint(cs) == "" {
		t.Fatalf("line %d: STATE currently_syncing %v", n, cs)
	}
	allowed := map[string][]string{
		"FULL_TABLE":  {"version", "last_replication_method", "xmin"},
		"INCREMENTAL": {"version", "last_replication_method", "replication_key", "replication_key_value"},
		"LOG_BASED":   {"version", "last_replication_method", "lsn", "xmin"},
	}
	for id, b := range v["bookmarks"].(map[string]any) {
		bm := b.(map[string]any)
		method := fmt.Sprint(bm["last_replication_method"])
		keys, ok := allowed[method]
		if !ok {
			t.Fatalf("line %d: %s: last_replication_method %q", n, id, method)
		}
		for k := range bm {
			if !slices.Contains(keys, k) {
				t.Fatalf("line %d: %s: %s bookmark with key %q", n, id, method, k)
			}
		}
		stream := tg.prefix + id[strings.LastIndex(id, "-")+1:]
		if ver := intOf(bm["version"]); ver <= 0 || ver != tg.maxVer[stream] {
			t.Fatalf("line %d: %s: bookmark version %d, records of version %d", n, id, ver, tg.maxVer[stream])
		}
		if method == "INCREMENTAL" && (bm["replication_key"] != "rev" || bm["replication_key_value"] == nil) {
			t.Fatalf("line %d: %s: %v", n, id, bm)
		}
		if method == "LOG_BASED" && intOf(bm["lsn"]) <= 0 {
			t.Fatalf("line %d: %s: lsn %v", n, id, bm["lsn"])
		}
	}
	tg.lastState = v
}

// table returns a stream's rows without _sdc_ fields, by id.
func (tg *target) table(stream string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, r := range tg.rows[stream] {
		clean := map[string]any{}
		for k, v := range r.rec {
			if !strings.HasPrefix(k, "_sdc_") {
				clean[k] = v
			}
		}
		out[fmt.Sprint(r.rec["id"])] = clean
	}
	return out
}

// sourceRows reads a table in the output contract's JSON form, by id.
func sourceRows(t *testing.T, dsn, table string) map[string]map[string]any {
	t.Helper()
	rows, err := testenv.RowsByID(context.Background(), dsn, "SELECT * FROM "+pgx.Identifier{table}.Sanitize())
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func intOf(v any) int64 {
	n, _ := v.(json.Number)
	i, _ := n.Int64()
	return i
}

func anyStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, fmt.Sprint(x))
	}
	return out
}
