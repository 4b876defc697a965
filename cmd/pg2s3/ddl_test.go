package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/catalog"
)

// TestDDLAthena: discover, select, then print Athena DDL for an s3 sink in
// both formats, with the types the catalog gives and without a database
// connection (the config's host is unreachable for the ddl runs).
func TestDDLAthena(t *testing.T) {
	db, config := cliDB(t, "cli_ddl", `
CREATE TABLE orders (id bigint PRIMARY KEY, "Total" numeric(12,2), placed_at timestamptz, details jsonb, tags text[]);
CREATE TABLE "Audit Log" (at timestamptz, msg text);`)
	dir := t.TempDir()
	catPath := selectStreams(t, config(nil), dir, map[string]string{"orders": "LOG_BASED", "Audit Log": "FULL_TABLE"})
	s3 := map[string]any{"type": "s3", "bucket": "lake", "prefix": "/pg2s3/shop/", "region": "eu-west-1"}
	offline := map[string]any{"host": "unreachable.invalid", "sink": s3}
	code, ddl, errOut := run("ddl", "--athena", "--config", config(offline), "--catalog", catPath, "--database", "analytics")
	if code != 0 {
		t.Fatalf("ddl: exit %d: %s", code, errOut)
	}
	orders, audit := db+"_public_orders", db+"_public_audit_log"
	for _, want := range []string{
		"-- pg2s3: Athena DDL for pipeline " + db + " (jsonl objects at s3://lake/pg2s3/shop/)",
		"\nCREATE DATABASE IF NOT EXISTS `analytics`;\n",
		"\nCREATE EXTERNAL TABLE IF NOT EXISTS `analytics`.`" + db + "_versions` (\n",
		"LOCATION 's3://lake/pg2s3/shop/versions/'",
		"\nCREATE EXTERNAL TABLE IF NOT EXISTS `analytics`.`" + orders + "` (\n  `id` bigint,\n  `total` decimal(12,2),\n  `placed_at` timestamp,\n  `details` string,\n  `tags` string,\n",
		"LOCATION 's3://lake/pg2s3/shop/" + db + "-public-orders/'",
		"\nCREATE OR REPLACE VIEW \"analytics\".\"" + orders + "_current\" AS\n",
		"GROUP BY \"id\"\n",
		"\nCREATE OR REPLACE VIEW \"analytics\".\"" + audit + "_current\" AS\n",
		"LOCATION 's3://lake/pg2s3/shop/" + db + "-public-Audit Log/'",
	} {
		if !strings.Contains(ddl, want) {
			t.Errorf("DDL lacks %q:\n%s", want, ddl)
		}
	}
	if strings.Contains(ddl, "'mapping.") {
		t.Errorf("a mapping for names Athena reads as they are:\n%s", ddl)
	}
	if n := strings.Count(ddl, ";\n"); n != 6 {
		t.Errorf("%d statements, want 6 (database, versions, 2 tables, 2 views)", n)
	}

	parquet := map[string]any{"host": "unreachable.invalid", "sink": map[string]any{"type": "s3", "bucket": "lake", "format": "parquet"}}
	code, ddl, errOut = run("ddl", "--athena", "--config", config(parquet), "--catalog", catPath, "--replace")
	if code != 0 {
		t.Fatalf("ddl parquet: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"(parquet objects at s3://lake/)", "DROP TABLE IF EXISTS `pg2s3`.`" + orders + "`;", "  `_sdc_unchanged` string\n)\nSTORED AS PARQUET\n", "contains(\"_pg2s3_unchanged\", 'Total')"} {
		if !strings.Contains(ddl, want) {
			t.Errorf("Parquet DDL lacks %q:\n%s", want, ddl)
		}
	}
}

func TestDDLRefusals(t *testing.T) {
	_, config := cliDB(t, "cli_ddl_bad", `CREATE TABLE t (id int PRIMARY KEY);`)
	dir := t.TempDir()
	_, out, _ := run("discover", "--config", config(nil))
	catPath := filepath.Join(dir, "catalog.json")
	os.WriteFile(catPath, []byte(out), 0o644)
	cat, _ := catalog.Parse([]byte(out))
	cat.Streams[0].SetTableMetadata("selected", true)
	b, _ := cat.Marshal()
	selPath := filepath.Join(dir, "selected.json")
	os.WriteFile(selPath, b, 0o644)
	local := config(map[string]any{"sink": map[string]any{"type": "local", "path": filepath.Join(dir, "out")}})
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no dialect", []string{"--config", local, "--catalog", selPath}, 2, "--athena"},
		{"local sink", []string{"--athena", "--config", local, "--catalog", selPath}, 1, "which Athena cannot read: use an s3 sink, or copy the directory to S3"},
		{"bad location", []string{"--athena", "--config", local, "--catalog", selPath, "--location", "/tmp/x"}, 2, "is not an S3 location"},
		{"nothing selected", []string{"--athena", "--config", local, "--catalog", catPath, "--location", "s3://b/p"}, 1, "selects no stream"},
		{"bad database", []string{"--athena", "--config", local, "--catalog", selPath, "--location", "s3://b/p", "--database", "My-DB"}, 1, "Athena database names are lower-case"},
		{"no catalog", []string{"--athena", "--config", local, "--catalog", filepath.Join(dir, "none.json"), "--location", "s3://b/p"}, 1, "pg2s3 discover"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(append([]string{"ddl"}, tc.args...)...)
			if code != tc.code || stdout != "" || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d (want %d), stdout %q, stderr %q (want %q)", code, tc.code, stdout, stderr, tc.want)
			}
		})
	}
	// --location makes a local sink's copy queryable.
	code, ddl, stderr := run("ddl", "--athena", "--config", local, "--catalog", selPath, "--location", "s3://copy/of/out")
	if code != 0 || !strings.Contains(ddl, "LOCATION 's3://copy/of/out/versions/'") {
		t.Fatalf("exit %d: %s\n%s", code, stderr, ddl)
	}
}
