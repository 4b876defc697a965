package warehouse

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
)

// Athena (and the Glue Data Catalog behind it) reads the sink's layout in
// place:
//
//   - one external table per stream over <location>/<tap_stream_id>/: a
//     table without partitions reads every object below its location,
//     nested folders included (so every v<version>/ folder), and skips
//     objects and folders whose names start with "_" or "." below it (the
//     batch manifests);
//   - one table over <location>/versions/ reading the activation markers;
//   - per stream a view <table>_current applying the loader rule.
//
// JSON Lines objects are read with the OpenX JSON SerDe rather than Hive's
// (org.apache.hive.hcatalog.data.JsonSerDe): the contract embeds json,
// jsonb, hstore and array values as JSON, and the type table reads them as
// string columns; the OpenX SerDe renders a nested object or array into a
// string column as its JSON text, where Hive's SerDe fails on a non-scalar
// value. The OpenX SerDe also parses the contract's timestamps
// (2024-05-01T12:30:00.000000Z) without configuration, and maps columns
// whose names Athena cannot hold (mapping.<column>).

// Storage formats of external tables.
const (
	OpenXJSONSerDe     = "org.openx.data.jsonserde.JsonSerDe"
	TextInputFormat    = "org.apache.hadoop.mapred.TextInputFormat"
	TextOutputFormat   = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
	ParquetSerDe       = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
	ParquetInputFormat = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
	ParquetOutput      = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
	// ContractTimestampFormat is the contract's timestamp layout as a
	// java.time pattern (SerDe property timestamp.formats).
	ContractTimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"
)

// AthenaOptions say where and how a pipeline's objects are stored.
type AthenaOptions struct {
	// Database is the Athena (Glue) database the tables go in.
	Database string
	// Location is the sink's root: s3://bucket/prefix/ (a trailing slash
	// is added). It may hold CDK tokens: it is only concatenated.
	Location string
	// Format is the data objects' format: layout.JSONL (default) or
	// layout.Parquet.
	Format layout.Format
	// Pipeline names the table of version markers, <pipeline>_versions.
	Pipeline string
}

// Schema is a pipeline's tables in Athena.
type Schema struct {
	Database string
	Versions Table
	Tables   []Table
	// Warnings name columns Athena may not read as named (see Table).
	Warnings []string
}

// Table is one external table.
type Table struct {
	// Name is the table's Athena name: lower case letters, digits and
	// underscores.
	Name string
	// Stream is the tap_stream_id ("" for the versions table).
	Stream   string
	Location string
	Columns  []Column
	Storage  Storage
	// Keys are the key columns (Athena names); none for keyless streams.
	Keys []string
	// Properties are the table properties (TBLPROPERTIES / Glue
	// Parameters).
	Properties map[string]string
}

// Column is one column of an external table.
type Column struct {
	// Name is the Athena name; Source is the field's name in the data
	// objects (they differ when the source name holds characters Athena
	// does not allow).
	Name, Source string
	// Type is the Hive type (Type.Hive).
	Type string
	// Meta says the column is one of the _sdc_ fields.
	Meta bool
}

// Storage is how a table's objects are read.
type Storage struct {
	SerDe           string
	SerDeParameters map[string]string
	InputFormat     string
	OutputFormat    string
	// Classification is Glue's name of the format (json, parquet).
	Classification string
}

// VersionsColumns are the activation markers' fields
// (replicate.Activation).
var VersionsColumns = []Column{
	{Name: "stream", Source: "stream", Type: "string"},
	{Name: "table_version", Source: "table_version", Type: "bigint"},
	{Name: "replication_method", Source: "replication_method", Type: "string"},
	{Name: "activated_at", Source: "activated_at", Type: "timestamp"},
}

// unchangedField is the Parquet field listing the columns a log change did
// not carry (ParquetMeta).
const unchangedField = "_sdc_unchanged"

var notAthena = regexp.MustCompile(`[^a-z0-9_]`)

// AthenaName turns a name into one Athena accepts without quoting rules
// of its own: lower case, every character other than a letter, digit or
// underscore replaced by an underscore.
func AthenaName(s string) string {
	return notAthena.ReplaceAllString(strings.ToLower(s), "_")
}

// TableName is a stream's table name: its tap_stream_id as an Athena name
// (shop-public-orders: shop_public_orders).
func TableName(streamID string) string { return AthenaName(streamID) }

// VersionsTableName is the table of a pipeline's version markers.
func VersionsTableName(pipeline string) string { return AthenaName(pipeline) + "_versions" }

// ViewName is the name of a table's current-state view.
func ViewName(table string) string { return table + "_current" }

// AthenaSchema describes the tables and views of streams stored at
// opt.Location. Every problem (a name two tables or two columns would
// share) is reported in the joined error, naming the stream.
func AthenaSchema(streams []record.Stream, opt AthenaOptions) (*Schema, error) {
	if opt.Format == "" {
		opt.Format = layout.JSONL
	}
	if !opt.Format.Valid() {
		return nil, fmt.Errorf("format %q is not jsonl or parquet", opt.Format)
	}
	if opt.Database == "" || AthenaName(opt.Database) != opt.Database {
		return nil, fmt.Errorf("database %q: Athena database names are lower-case letters, digits and underscores", opt.Database)
	}
	root := opt.Location
	if !strings.HasSuffix(root, "/") {
		root += "/"
	}
	sch := &Schema{Database: opt.Database, Versions: versionsTable(opt, root)}
	var errs []error
	owner := map[string]string{sch.Versions.Name: "the version markers"}
	for i := range streams {
		t, warnings, problems := streamTable(&streams[i], opt.Format, root)
		for _, p := range problems {
			errs = append(errs, fmt.Errorf("stream %s: %w", streams[i].ID, p))
		}
		for _, name := range []string{t.Name, ViewName(t.Name)} {
			if prev, dup := owner[name]; dup {
				errs = append(errs, fmt.Errorf("stream %s: table or view name %s is also used by %s: rename one of the tables or use separate databases", t.Stream, name, prev))
			}
			owner[name] = "stream " + t.Stream
		}
		sch.Tables = append(sch.Tables, t)
		sch.Warnings = append(sch.Warnings, warnings...)
	}
	return sch, errors.Join(errs...)
}

func versionsTable(opt AthenaOptions, root string) Table {
	return Table{
		Name:       VersionsTableName(opt.Pipeline),
		Location:   root + layout.VersionsPrefix,
		Columns:    VersionsColumns,
		Storage:    jsonStorage(nil),
		Properties: map[string]string{"classification": "json", "pg2s3.kind": "versions"},
	}
}

func jsonStorage(mapping map[string]string) Storage {
	params := map[string]string{"timestamp.formats": ContractTimestampFormat}
	for col, src := range mapping {
		params["mapping."+col] = src
	}
	return Storage{SerDe: OpenXJSONSerDe, SerDeParameters: params, InputFormat: TextInputFormat, OutputFormat: TextOutputFormat, Classification: "json"}
}

func parquetStorage() Storage {
	return Storage{SerDe: ParquetSerDe, SerDeParameters: map[string]string{}, InputFormat: ParquetInputFormat, OutputFormat: ParquetOutput, Classification: "parquet"}
}

// streamTable builds a stream's table. JSON Lines columns get Athena
// names, with a SerDe mapping to the source name when it differs beyond
// case. Parquet is read by (case-insensitive) name with no mapping, so a
// Parquet column keeps its source name, lower-cased and quoted, and a
// warning says Athena may refuse it.
func streamTable(s *record.Stream, format layout.Format, root string) (Table, []string, []error) {
	fields := Fields(s)
	storage := parquetStorage()
	if format == layout.Parquet {
		fields = ParquetFields(s)
	}
	var cols []Column
	var warnings []string
	var errs []error
	mapping := map[string]string{}
	seen := map[string]string{}
	for _, f := range fields {
		name := AthenaName(f.Name)
		if format == layout.Parquet {
			name = strings.ToLower(f.Name)
			if name != AthenaName(name) {
				warnings = append(warnings, fmt.Sprintf("stream %s: column %q holds characters Athena does not support in names; Parquet columns are read by name, so it keeps its name (quoted), which some Athena queries may refuse: rename it or use the jsonl format", s.ID, f.Name))
			}
		} else if name != strings.ToLower(f.Name) {
			mapping[name] = f.Name
		}
		prev, dup := seen[name]
		switch {
		case dup && f.Column == nil:
			errs = append(errs, fmt.Errorf("column %q takes the name of pg2s3's field %s in Athena: rename it or deselect it", prev, f.Name))
			continue
		case dup:
			errs = append(errs, fmt.Errorf("columns %q and %q both become %s in Athena (names are case-insensitive there): rename one or deselect it", prev, f.Name, name))
			continue
		}
		seen[name] = f.Name
		cols = append(cols, Column{Name: name, Source: f.Name, Type: f.Type.Hive(), Meta: f.Column == nil})
	}
	if format == layout.JSONL {
		storage = jsonStorage(mapping)
	}
	t := Table{
		Name: TableName(s.ID), Stream: s.ID, Location: root + layout.StreamPrefix(s.ID), Columns: cols, Storage: storage,
		Properties: map[string]string{"classification": storage.Classification, "pg2s3.stream": s.ID, "pg2s3.replication_method": string(s.Method)},
	}
	for _, k := range s.KeyColumns {
		name, ok := t.athenaName(k)
		if !ok {
			errs = append(errs, fmt.Errorf("key column %q is not a selected column", k))
			continue
		}
		t.Keys = append(t.Keys, name)
	}
	return t, warnings, errs
}

func (t Table) athenaName(source string) (string, bool) {
	for _, c := range t.Columns {
		if c.Source == source && !c.Meta {
			return c.Name, true
		}
	}
	return "", false
}

func (t Table) hasColumn(name string) bool {
	for _, c := range t.Columns {
		if c.Name == name {
			return true
		}
	}
	return false
}

// Statements returns the DDL in the order Athena needs it: the database,
// the versions table, each stream's table, then each stream's view. With
// replace, each table is dropped first (Athena drops only the table's
// definition, never the objects), so a changed catalog takes effect.
// Athena runs one statement per query.
func (s *Schema) Statements(replace bool) []string {
	out := []string{s.CreateDatabase()}
	for _, t := range append([]Table{s.Versions}, s.Tables...) {
		if replace {
			out = append(out, fmt.Sprintf("DROP TABLE IF EXISTS %s.%s", hiveIdent(s.Database), hiveIdent(t.Name)))
		}
		out = append(out, t.CreateTable(s.Database))
	}
	for _, t := range s.Tables {
		out = append(out, s.CreateView(t))
	}
	return out
}

// CreateDatabase is the database's DDL.
func (s *Schema) CreateDatabase() string {
	return "CREATE DATABASE IF NOT EXISTS " + hiveIdent(s.Database)
}

// CreateTable is the table's DDL (Hive dialect: backtick identifiers).
func (t Table) CreateTable(db string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE EXTERNAL TABLE IF NOT EXISTS %s.%s (\n", hiveIdent(db), hiveIdent(t.Name))
	for i, c := range t.Columns {
		sep := ","
		if i == len(t.Columns)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "  %s %s%s\n", hiveIdent(c.Name), c.Type, sep)
	}
	b.WriteString(")\n")
	if t.Storage.Classification == "parquet" {
		b.WriteString("STORED AS PARQUET\n")
	} else {
		fmt.Fprintf(&b, "ROW FORMAT SERDE %s\n", hiveString(t.Storage.SerDe))
		if len(t.Storage.SerDeParameters) > 0 {
			fmt.Fprintf(&b, "WITH SERDEPROPERTIES (\n%s\n)\n", hiveProperties(t.Storage.SerDeParameters))
		}
		fmt.Fprintf(&b, "STORED AS INPUTFORMAT %s\nOUTPUTFORMAT %s\n", hiveString(t.Storage.InputFormat), hiveString(t.Storage.OutputFormat))
	}
	fmt.Fprintf(&b, "LOCATION %s\n", hiveString(t.Location))
	fmt.Fprintf(&b, "TBLPROPERTIES (\n%s\n)", hiveProperties(t.Properties))
	return b.String()
}

// ViewQuery is the SELECT of a stream's current-state view in Athena's SQL
// (Trino), the loader rule: rows of the newest active table version (the
// greatest table_version among the stream's markers), then per key the
// values of the newest row, ordered by (_sdc_lsn or 0, a change before a
// copy row at the same position, _sdc_sequence), keys whose newest row is
// a delete left out. For Parquet, a column the newest change did not carry
// (listed in _sdc_unchanged: an unchanged TOASTed value) keeps the value of
// the newest row that carried it; JSON Lines cannot tell such a column from
// a null, so it reads null there. A keyless stream (FULL_TABLE views and
// tables) yields the rows of its active version as they are.
func (s *Schema) ViewQuery(t Table) string {
	db := trinoIdent(s.Database)
	var b strings.Builder
	b.WriteString("WITH\n")
	fmt.Fprintf(&b, "  active AS (\n    SELECT max(\"table_version\") AS \"table_version\"\n    FROM %s.%s\n    WHERE \"stream\" = %s\n  ),\n",
		db, trinoIdent(s.Versions.Name), trinoString(t.Stream))
	b.WriteString("  ordered AS (\n    SELECT t.*,\n")
	b.WriteString("      lpad(CAST(coalesce(t.\"_sdc_lsn\", 0) AS varchar), 20, '0')\n")
	b.WriteString("        || if(t.\"$path\" LIKE '%/" + layout.WALDataPrefix + "%', '1', '0')\n")
	b.WriteString("        || lpad(CAST(t.\"_sdc_sequence\" AS varchar), 20, '0') AS \"_pg2s3_order\"")
	parquet := t.hasColumn(unchangedField)
	if parquet {
		fmt.Fprintf(&b, ",\n      CAST(json_parse(t.%s) AS array(varchar)) AS \"_pg2s3_unchanged\"", trinoIdent(unchangedField))
	}
	fmt.Fprintf(&b, "\n    FROM %s.%s t\n    JOIN active a ON t.\"_sdc_table_version\" = a.\"table_version\"\n  )\n", db, trinoIdent(t.Name))
	var out []Column
	for _, c := range t.Columns {
		if c.Name != unchangedField {
			out = append(out, c)
		}
	}
	if len(t.Keys) == 0 {
		b.WriteString("SELECT\n")
		for i, c := range out {
			fmt.Fprintf(&b, "  %s%s\n", trinoIdent(c.Name), comma(i, len(out)))
		}
		b.WriteString("FROM ordered\nWHERE \"_sdc_deleted_at\" IS NULL")
		return b.String()
	}
	keys := map[string]bool{}
	for _, k := range t.Keys {
		keys[k] = true
	}
	b.WriteString("SELECT\n")
	for i, c := range out {
		col := trinoIdent(c.Name)
		switch {
		case keys[c.Name]:
			fmt.Fprintf(&b, "  %s", col)
		case parquet && !c.Meta:
			fmt.Fprintf(&b, "  max_by(%s, CASE WHEN \"_pg2s3_unchanged\" IS NULL OR NOT contains(\"_pg2s3_unchanged\", %s) THEN \"_pg2s3_order\" END) AS %s",
				col, trinoString(c.Source), col)
		default:
			fmt.Fprintf(&b, "  max_by(%s, \"_pg2s3_order\") AS %s", col, col)
		}
		fmt.Fprintf(&b, "%s\n", comma(i, len(out)))
	}
	group := make([]string, len(t.Keys))
	for i, k := range t.Keys {
		group[i] = trinoIdent(k)
	}
	fmt.Fprintf(&b, "FROM ordered\nGROUP BY %s\nHAVING max_by(\"_sdc_deleted_at\", \"_pg2s3_order\") IS NULL", strings.Join(group, ", "))
	return b.String()
}

// CreateView is the DDL of a stream's current-state view.
func (s *Schema) CreateView(t Table) string {
	return fmt.Sprintf("CREATE OR REPLACE VIEW %s.%s AS\n%s", trinoIdent(s.Database), trinoIdent(ViewName(t.Name)), s.ViewQuery(t))
}

func comma(i, n int) string {
	if i < n-1 {
		return ","
	}
	return ""
}

// hiveIdent quotes an identifier for Athena DDL (backticks).
func hiveIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// hiveString quotes a string literal for Athena DDL, where backslash
// escapes.
func hiveString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// trinoIdent quotes an identifier for Athena queries and views.
func trinoIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// trinoString quotes a string literal for Athena queries and views.
func trinoString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func hiveProperties(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lines := make([]string, len(keys))
	for i, k := range keys {
		lines[i] = fmt.Sprintf("  %s=%s%s", hiveString(k), hiveString(m[k]), comma(i, len(keys)))
	}
	return strings.Join(lines, "\n")
}
