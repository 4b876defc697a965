package warehouse_test

import (
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/warehouse"
)

func ordersStream() record.Stream {
	return record.Stream{
		ID: "shop-public-Order Items", Schema: "public", Table: "Order Items", Method: layout.LogBased,
		KeyColumns: []string{"Order ID", "line"},
		Columns: []record.Column{
			{Name: "Order ID", SQLType: "bigint", Kind: record.KindInteger},
			{Name: "line", SQLType: "smallint", Kind: record.KindInteger},
			{Name: "Total", SQLType: "numeric(12,2)", Kind: record.KindNumber},
			{Name: "it's", SQLType: "text", Kind: record.KindString},
			{Name: "placed_at", SQLType: "timestamp with time zone", Kind: record.KindTimestampTZ},
			{Name: "details", SQLType: "jsonb", Kind: record.KindJSON},
		},
	}
}

func TestAthenaJSONLines(t *testing.T) {
	sch, err := warehouse.AthenaSchema([]record.Stream{ordersStream()}, warehouse.AthenaOptions{
		Database: "pg2s3", Location: "s3://bucket/shop", Pipeline: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if len(sch.Tables) != 1 || len(sch.Warnings) != 0 {
		t.Fatalf("%d tables, warnings %v", len(sch.Tables), sch.Warnings)
	}
	tbl := sch.Tables[0]
	if tbl.Name != "shop_public_order_items" || tbl.Location != "s3://bucket/shop/shop-public-Order Items/" ||
		strings.Join(tbl.Keys, ",") != "order_id,line" {
		t.Fatalf("table %s at %s keys %v", tbl.Name, tbl.Location, tbl.Keys)
	}
	ddl := tbl.CreateTable(sch.Database)
	for _, want := range []string{
		"CREATE EXTERNAL TABLE IF NOT EXISTS `pg2s3`.`shop_public_order_items` (\n",
		"  `order_id` bigint,\n", "  `total` decimal(12,2),\n", "  `it_s` string,\n", "  `placed_at` timestamp,\n", "  `details` string,\n",
		"  `_sdc_deleted_at` timestamp,\n", "  `_sdc_lsn` bigint,\n", "  `_sdc_sequence` bigint\n)\n",
		"ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'\n",
		// Names that differ beyond case map to the source name; others
		// match case-insensitively.
		"'mapping.order_id'='Order ID'", `'mapping.it_s'='it\'s'`,
		`'timestamp.formats'='yyyy-MM-dd\'T\'HH:mm:ss.SSSSSS\'Z\''`,
		"STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'\nOUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'\n",
		"LOCATION 's3://bucket/shop/shop-public-Order Items/'\n", "'classification'='json'", "'pg2s3.stream'='shop-public-Order Items'",
	} {
		if !strings.Contains(ddl, want) {
			t.Errorf("DDL lacks %q:\n%s", want, ddl)
		}
	}
	if strings.Contains(ddl, "mapping.total") || strings.Contains(ddl, "_sdc_unchanged") {
		t.Errorf("needless mapping or Parquet field:\n%s", ddl)
	}
	ver := sch.Versions.CreateTable(sch.Database)
	for _, want := range []string{"`pg2s3`.`shop_versions`", "`table_version` bigint", "`activated_at` timestamp", "LOCATION 's3://bucket/shop/versions/'"} {
		if !strings.Contains(ver, want) {
			t.Errorf("versions DDL lacks %q:\n%s", want, ver)
		}
	}
	view := sch.CreateView(tbl)
	for _, want := range []string{
		`CREATE OR REPLACE VIEW "pg2s3"."shop_public_order_items_current" AS`,
		`FROM "pg2s3"."shop_versions"` + "\n    WHERE \"stream\" = 'shop-public-Order Items'",
		`JOIN active a ON t."_sdc_table_version" = a."table_version"`,
		`if(t."$path" LIKE '%/wal-%', '1', '0')`,
		"  \"order_id\",\n  \"line\",\n  max_by(\"total\", \"_pg2s3_order\") AS \"total\",",
		`max_by("_sdc_sequence", "_pg2s3_order") AS "_sdc_sequence"` + "\nFROM ordered",
		"GROUP BY \"order_id\", \"line\"\nHAVING max_by(\"_sdc_deleted_at\", \"_pg2s3_order\") IS NULL",
	} {
		if !strings.Contains(view, want) {
			t.Errorf("view lacks %q:\n%s", want, view)
		}
	}
	stmts := sch.Statements(true)
	if len(stmts) != 6 || !strings.HasPrefix(stmts[0], "CREATE DATABASE IF NOT EXISTS `pg2s3`") ||
		stmts[1] != "DROP TABLE IF EXISTS `pg2s3`.`shop_versions`" || !strings.HasPrefix(stmts[5], "CREATE OR REPLACE VIEW") {
		t.Fatalf("statements:\n%s", strings.Join(stmts, "\n;\n"))
	}
	if n := len(sch.Statements(false)); n != 4 {
		t.Fatalf("%d statements without replace, want 4", n)
	}
}

func TestAthenaParquet(t *testing.T) {
	s := ordersStream()
	sch, err := warehouse.AthenaSchema([]record.Stream{s}, warehouse.AthenaOptions{
		Database: "lake", Location: "s3://bucket/", Format: "parquet", Pipeline: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	tbl := sch.Tables[0]
	ddl := tbl.CreateTable(sch.Database)
	for _, want := range []string{"  `order id` bigint,\n", "  `it's` string,\n", "  `_sdc_unchanged` string\n)\nSTORED AS PARQUET\nLOCATION 's3://bucket/shop-public-Order Items/'\n", "'classification'='parquet'"} {
		if !strings.Contains(ddl, want) {
			t.Errorf("DDL lacks %q:\n%s", want, ddl)
		}
	}
	if strings.Contains(ddl, "SERDE") || strings.Contains(ddl, "mapping.") {
		t.Errorf("Parquet DDL with a SerDe mapping:\n%s", ddl)
	}
	if len(sch.Warnings) != 2 || !strings.Contains(sch.Warnings[0], `"Order ID"`) {
		t.Errorf("warnings: %v", sch.Warnings)
	}
	view := sch.ViewQuery(tbl)
	for _, want := range []string{
		`CAST(json_parse(t."_sdc_unchanged") AS array(varchar)) AS "_pg2s3_unchanged"`,
		`max_by("total", CASE WHEN "_pg2s3_unchanged" IS NULL OR NOT contains("_pg2s3_unchanged", 'Total') THEN "_pg2s3_order" END) AS "total"`,
		`max_by("it's", CASE WHEN "_pg2s3_unchanged" IS NULL OR NOT contains("_pg2s3_unchanged", 'it''s') THEN "_pg2s3_order" END) AS "it's"`,
		`max_by("_sdc_lsn", "_pg2s3_order") AS "_sdc_lsn"`,
		`GROUP BY "order id", "line"`,
	} {
		if !strings.Contains(view, want) {
			t.Errorf("view lacks %q:\n%s", want, view)
		}
	}
	if strings.Contains(view, `AS "_sdc_unchanged"`) {
		t.Errorf("view returns _sdc_unchanged:\n%s", view)
	}
}

func TestAthenaKeylessView(t *testing.T) {
	s := record.Stream{ID: "db-public-log", Method: layout.FullTable, Columns: []record.Column{{Name: "msg", SQLType: "text"}}}
	sch, err := warehouse.AthenaSchema([]record.Stream{s}, warehouse.AthenaOptions{Database: "d", Location: "s3://b/p/", Pipeline: "db"})
	if err != nil {
		t.Fatal(err)
	}
	view := sch.ViewQuery(sch.Tables[0])
	if strings.Contains(view, "GROUP BY") || strings.Contains(view, "max_by") || !strings.HasSuffix(view, "FROM ordered\nWHERE \"_sdc_deleted_at\" IS NULL") {
		t.Fatalf("keyless view:\n%s", view)
	}
}

func TestAthenaNameConflicts(t *testing.T) {
	a := record.Stream{ID: "db-public-a-b", Columns: []record.Column{{Name: "id"}, {Name: "ID"}}, KeyColumns: []string{"id"}}
	b := record.Stream{ID: "db-public-a_b", Columns: []record.Column{{Name: "x"}, {Name: "_sdc_lsn"}}, KeyColumns: []string{"y"}}
	_, err := warehouse.AthenaSchema([]record.Stream{a, b}, warehouse.AthenaOptions{Database: "d", Location: "s3://b/", Pipeline: "db"})
	for _, want := range []string{
		`stream db-public-a-b: columns "id" and "ID" both become id`,
		`stream db-public-a_b: column "_sdc_lsn" takes the name of pg2s3's field _sdc_lsn`,
		`stream db-public-a_b: key column "y" is not a selected column`,
		"stream db-public-a_b: table or view name db_public_a_b is also used by stream db-public-a-b",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	for _, opt := range []warehouse.AthenaOptions{{Database: "My-DB", Location: "s3://b/"}, {Database: "d", Location: "s3://b/", Format: "csv"}} {
		if _, err := warehouse.AthenaSchema(nil, opt); err == nil {
			t.Errorf("%+v accepted", opt)
		}
	}
}
