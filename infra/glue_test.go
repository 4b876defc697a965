package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// glueConfig: crm writes Parquet and has a glue_catalog with an inline
// selection of two of its three streams; shop has neither (its versions
// table only).
const glueConfig = `{
  "stack_name": "Pg2s3Glue",
  "account": "123456789012",
  "region": "eu-west-1",
  "databases": [
    {
      "name": "crm",
      "create_secret": true,
      "format": "parquet",
      "glue_catalog": "testdata/glue_catalog.json",
      "catalog": {"streams": {
        "crm-public-accounts": {"replication_method": "INCREMENTAL", "replication_key": "updated at"},
        "crm-public-events": {"replication_method": "LOG_BASED"}
      }},
      "schedules": [{"name": "daily", "streams": ["crm-public-accounts", "crm-public-events"], "cron": "0 6 * * ? *"}],
      "wal": {"cron": "0/10 * * * ? *"}
    },
    {
      "name": "shop-eu",
      "create_secret": true,
      "prefix": "raw/shop",
      "schedules": [{"name": "hourly", "streams": ["shop-public-a"], "rate_minutes": 60, "anchor_time": "2024-01-01T00:00:00Z"}]
    }
  ]
}`

func TestGlueTables(t *testing.T) {
	f := synth(t, "glue", glueConfig)
	tpl := f.template
	for typ, n := range map[string]int{"AWS::Glue::Database": 1, "AWS::Glue::Table": 4, "AWS::Athena::NamedQuery": 2} {
		try(t, func() { tpl.ResourceCountIs(jsii.String(typ), jsii.Number(float64(n))) })
	}
	try(t, func() {
		tpl.HasResourceProperties(jsii.String("AWS::Glue::Database"), map[string]any{
			"CatalogId": "123456789012", "DatabaseInput": assertions.Match_ObjectLike(&map[string]any{"Name": "pg2s3glue"}),
		})
	})
	// Every table is an external table in the stack's database.
	try(t, func() {
		tpl.AllResourcesProperties(jsii.String("AWS::Glue::Table"), map[string]any{
			"DatabaseName": "pg2s3glue",
			"TableInput": assertions.Match_ObjectLike(&map[string]any{
				"TableType": "EXTERNAL_TABLE", "Parameters": assertions.Match_ObjectLike(&map[string]any{"EXTERNAL": "TRUE"}),
			}),
		})
	})
	accounts := tableInput(t, f, "crm_public_accounts")
	sd := accounts["StorageDescriptor"].(map[string]any)
	if got := fmt.Sprint(sd["Columns"]); !strings.Contains(got, "map[Name:balance Type:decimal(12,2)]") ||
		!strings.Contains(got, "map[Name:updated at Type:timestamp]") || !strings.Contains(got, "map[Name:_sdc_unchanged Type:string]") {
		t.Errorf("accounts columns: %s", got)
	}
	if sd["SerdeInfo"].(map[string]any)["SerializationLibrary"] != "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe" ||
		sd["InputFormat"] != "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat" {
		t.Errorf("accounts storage: %v", sd)
	}
	if loc := fmt.Sprint(sd["Location"]); !strings.Contains(loc, "Fn::Join") || !strings.Contains(loc, "/crm/crm-public-accounts/") || !strings.Contains(loc, "s3://") {
		t.Errorf("accounts location: %s", loc)
	}
	versions := tableInput(t, f, "shop_eu_versions")
	vsd := versions["StorageDescriptor"].(map[string]any)
	if vsd["SerdeInfo"].(map[string]any)["SerializationLibrary"] != "org.openx.data.jsonserde.JsonSerDe" ||
		!strings.Contains(fmt.Sprint(vsd["Location"]), "/raw/shop/versions/") {
		t.Errorf("shop versions table: %v", vsd)
	}
	tableInput(t, f, "crm_versions")
	tableInput(t, f, "crm_public_events")
	for _, q := range f.resources("AWS::Athena::NamedQuery") {
		sql := fmt.Sprint(q["QueryString"])
		if q["Database"] != "pg2s3glue" || !strings.HasPrefix(sql, `CREATE OR REPLACE VIEW "pg2s3glue"."crm_public_`) ||
			!strings.Contains(sql, `FROM "pg2s3glue"."crm_versions"`) || !strings.Contains(sql, `"_pg2s3_unchanged"`) {
			t.Errorf("view query %v:\n%s", q["Name"], sql)
		}
	}
	// The format reaches the functions.
	for pipeline, format := range map[string]string{"crm": "parquet", "shop-eu": "jsonl"} {
		try(t, func() {
			tpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
				"Environment": map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]any{"PG2S3_PIPELINE": pipeline, "PG2S3_FORMAT": format})},
			})
		})
	}
	// Parquet keeps the source name "updated at": synth says Athena may refuse it.
	ann := assertions.Annotations_FromStack(f.stack)
	if w := *ann.FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String(`column "updated at" holds characters`))); len(w) != 1 {
		t.Errorf("%d warnings about the column name, want 1", len(w))
	}
	// Glue needs no grant: no function may touch Glue or Athena.
	for id, p := range f.resources("AWS::IAM::Policy") {
		for _, st := range statements(p) {
			for _, a := range list(st["Action"]) {
				if strings.HasPrefix(a, "glue:") || strings.HasPrefix(a, "athena:") {
					t.Errorf("%s grants %s", id, a)
				}
			}
		}
	}
	checkIAM(t, f)
	checkNag(t, f)
}

// tableInput returns the TableInput of the Glue table named name.
func tableInput(t *testing.T, f *fixture, name string) map[string]any {
	t.Helper()
	for _, p := range f.resources("AWS::Glue::Table") {
		in := p["TableInput"].(map[string]any)
		if in["Name"] == name {
			return in
		}
	}
	t.Fatalf("no Glue table %s", name)
	return nil
}

func TestGlueConfigErrors(t *testing.T) {
	db := func(name, extra string) string {
		return `{"name":"` + name + `","create_secret":true,"schedules":[{"name":"h","streams":["crm-public-accounts"],"rate_minutes":60,"anchor_time":"2024-01-01T00:00:00Z"}]` + extra + `}`
	}
	inline := `,"catalog":{"streams":{"crm-public-accounts":{"replication_method":"FULL_TABLE"}}}`
	for name, tc := range map[string]struct{ config, want string }{
		"bad format":        {`{"databases":[` + db("crm", `,"format":"csv"`) + `]}`, `databases[0] "crm": format "csv" is not jsonl or parquet`},
		"bad glue database": {`{"glue_database":"My-Lake","databases":[` + db("crm", "") + `]}`, `glue_database: "My-Lake" must be 1-255 lower-case letters`},
		"missing file":      {`{"databases":[` + db("crm", `,"glue_catalog":"testdata/none.json"`) + `]}`, `databases[0] "crm": glue_catalog: read catalog:`},
		"stream not in file": {`{"databases":[` + db("crm", `,"glue_catalog":"testdata/glue_catalog.json","catalog":{"streams":{"crm-public-accounts":{"replication_method":"FULL_TABLE"},"crm-public-gone":{"replication_method":"FULL_TABLE"}}}`) + `]}`,
			`glue_catalog: testdata/glue_catalog.json has no stream crm-public-gone (named in catalog.streams)`},
		"nothing selected": {`{"databases":[` + db("crm", `,"glue_catalog":"testdata/glue_catalog.json"`) + `]}`, `glue_catalog: testdata/glue_catalog.json selects no stream`},
		"same table twice": {`{"databases":[` + db("crm", `,"glue_catalog":"testdata/glue_catalog.json"`+inline) + `,` + db("crm-copy", `,"glue_catalog":"testdata/glue_catalog.json"`+inline) + `]}`,
			`databases[1] "crm-copy": glue_catalog: table or view crm_public_accounts of glue_database pg2s3 is also a table or view of "crm"`},
	} {
		_, err := ParseStackConfig([]byte(tc.config))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v\nwant one containing %q", name, err, tc.want)
		}
	}
	c, err := ParseStackConfig([]byte(`{"stack_name":"Data-Lake","databases":[` + db("crm", "") + `]}`))
	if err != nil || c.GlueDatabase != "data_lake" || c.Databases[0].Format != "jsonl" {
		t.Fatalf("defaults: %v %+v", err, c)
	}
}

// A relative glue_catalog starts at the config file, wherever synth runs.
func TestGlueCatalogRelativeToConfig(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile("testdata/glue_catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	must(os.MkdirAll(filepath.Join(dir, "catalogs"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "catalogs", "crm.json"), b, 0o644))
	cfg := `{"databases":[{"name":"crm","create_secret":true,"glue_catalog":"catalogs/crm.json",
 "catalog":{"streams":{"crm-public-events":{"replication_method":"FULL_TABLE"}}},
 "schedules":[{"name":"h","streams":["crm-public-events"],"rate_minutes":60,"anchor_time":"2024-01-01T00:00:00Z"}]}]}`
	must(os.WriteFile(filepath.Join(dir, "stack.json"), []byte(cfg), 0o644))
	c, err := LoadStackConfig(filepath.Join(dir, "stack.json"))
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Databases[0]; d.GlueCatalog != filepath.Join(dir, "catalogs", "crm.json") || len(d.glueStreams) != 1 || d.glueStreams[0].ID != "crm-public-events" {
		t.Fatalf("glue_catalog %s, streams %+v", d.GlueCatalog, d.glueStreams)
	}
}
