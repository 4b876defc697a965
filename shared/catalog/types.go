package catalog

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/pg2s3/pg2s3/shared/record"
)

// This file is THE type mapping: PostgreSQL column types as discovery reads
// them from pg_catalog, to the JSON Schema fragment of the Singer catalog
// (the shape tap-postgres produces) and the record.Kind the encoder uses.
//
// Differences from tap-postgres v0.2.1, all deliberate:
//   - domains map through their base type (tap-postgres leaves them
//     unsupported because it looks only at format_type(atttypid, NULL));
//   - json/jsonb are embedded as JSON documents (any JSON type), not strings;
//   - interval (ISO 8601 text: sessions use IntervalStyle=iso_8601), bit(n),
//     bit varying and bytea (base64) are supported;
//   - arrays of any supported element type and any dimension are supported.
//
// Values are read in text form under the session settings that
// shared/postgres/connect sets (TimeZone=UTC, DateStyle ISO,
// IntervalStyle iso_8601, bytea_output hex, extra_float_digits 3); the
// encoder relies on them.

// ColumnInfo is one column's type as discovery reads it from pg_catalog.
type ColumnInfo struct {
	Name string
	// Type is format_type(atttypid, NULL): "numeric", "character varying",
	// "integer[]", or a domain's or enum's own name. It is the column's
	// sql-datatype in the catalog, as in tap-postgres.
	Type string
	// SQLType is format_type(atttypid, atttypmod): "numeric(10,2)".
	SQLType string
	// Base is pg_type.typname of the type values take once domains (on
	// the column's type and on an array's element) and the array are
	// resolved: "int4", "numeric", "bpchar", "hstore", an enum's name.
	Base string
	// BaseSchema is the schema of Base: built-in types live in pg_catalog;
	// extension types (hstore, citext) are recognised in any schema.
	BaseSchema string
	// BaseTypType is pg_type.typtype of Base: b base, e enum, r range,
	// m multirange, c composite, p pseudo.
	BaseTypType byte
	// Typmod is the type modifier applying to Base (the column's, else the
	// innermost domain's that declares one); -1 when none.
	Typmod int32
	// Dims is the array dimension count: attndims, or 1 when that is 0 for
	// an array (or a domain over an array); 0 for scalars.
	Dims int
	// PrimaryKey says the column is part of the primary key: its JSON type
	// then leaves out "null", as in tap-postgres.
	PrimaryKey bool
}

// Mapping is how one column replicates.
type Mapping struct {
	// Schema is the column's JSON Schema fragment; {} when unsupported.
	Schema map[string]any
	// Kind is the encoding class (the element's for arrays).
	Kind record.Kind
	// Dims is the array dimension count (0 for scalars).
	Dims int
	// Supported is false for types pg2s3 does not replicate; such columns
	// stay in the catalog with inclusion "unsupported".
	Supported bool
	// Orderable says the column can serve as an INCREMENTAL replication
	// key: its values have a meaningful total order in PostgreSQL.
	Orderable bool
	// Definitions are the recursive array definitions Schema refers to.
	Definitions map[string]any
}

// Unconstrained numeric columns are described as precision 100, scale 38
// (tap-postgres' MAX_PRECISION and MAX_SCALE); larger ones are capped.
const (
	MaxPrecision = 100
	MaxScale     = 38
)

// scalarMap is how a resolved base type maps.
type scalarMap struct {
	kind      record.Kind
	jsonTypes []string       // JSON types besides "null"
	extra     map[string]any // further schema keywords
	family    string         // recursive array definition family
	orderable bool
}

// builtin maps pg_catalog types by typname.
func builtin(c ColumnInfo) (scalarMap, bool) {
	str := func(kind record.Kind) scalarMap {
		return scalarMap{kind: kind, jsonTypes: []string{"string"}, family: "string", orderable: true}
	}
	switch c.Base {
	case "int2", "int4", "int8":
		bits := map[string]uint{"int2": 16, "int4": 32, "int8": 64}[c.Base]
		lo, hi := intBounds(bits)
		return scalarMap{kind: record.KindInteger, jsonTypes: []string{"integer"}, family: "integer", orderable: true,
			extra: map[string]any{"minimum": lo, "maximum": hi}}, true
	case "numeric":
		p, s := numericPrecisionScale(c.Typmod)
		return scalarMap{kind: record.KindNumber, jsonTypes: []string{"number"}, family: decimalFamily(p, s), orderable: true,
			extra: numericBounds(p, s)}, true
	case "float4", "float8":
		return scalarMap{kind: record.KindNumber, jsonTypes: []string{"number"}, family: "number", orderable: true}, true
	case "bool":
		return scalarMap{kind: record.KindBool, jsonTypes: []string{"boolean"}, family: "boolean", orderable: true}, true
	case "bpchar", "varchar":
		m := str(record.KindString)
		if c.Typmod >= 4 {
			m.extra = map[string]any{"maxLength": int64(c.Typmod - 4)}
		}
		return m, true
	case "text", "name", "char", "money", "uuid", "inet", "cidr", "macaddr", "macaddr8", "time", "timetz", "interval", "varbit":
		return str(record.KindString), true
	case "bit":
		if c.Typmod <= 1 { // bit without a length is bit(1)
			return scalarMap{kind: record.KindBit1, jsonTypes: []string{"boolean"}, family: "boolean", orderable: true}, true
		}
		return str(record.KindString), true
	case "date", "timestamp", "timestamptz":
		kind := map[string]record.Kind{"date": record.KindDate, "timestamp": record.KindTimestamp, "timestamptz": record.KindTimestampTZ}[c.Base]
		return scalarMap{kind: kind, jsonTypes: []string{"string"}, extra: map[string]any{"format": "date-time"},
			family: "timestamp", orderable: true}, true
	case "json", "jsonb":
		return scalarMap{kind: record.KindJSON, jsonTypes: []string{"object", "array", "string", "number", "boolean"}, family: "json"}, true
	case "bytea":
		m := str(record.KindBytea)
		m.extra = map[string]any{"contentEncoding": "base64"}
		return m, true
	}
	return scalarMap{}, false
}

// scalarFor maps a resolved base type; false when pg2s3 does not replicate
// it (geometric types, ranges, tsvector/tsquery, xml, pg_lsn, oid and reg*
// types, composite and pseudo types, unknown extension types).
func scalarFor(c ColumnInfo) (scalarMap, bool) {
	switch c.BaseTypType {
	case 'e':
		return scalarMap{kind: record.KindString, jsonTypes: []string{"string"}, family: "string", orderable: true}, true
	case 'b':
	default:
		return scalarMap{}, false
	}
	switch c.Base {
	case "citext":
		return scalarMap{kind: record.KindString, jsonTypes: []string{"string"}, family: "string", orderable: true}, true
	case "hstore":
		return scalarMap{kind: record.KindHstore, jsonTypes: []string{"object"}, extra: map[string]any{"properties": map[string]any{}},
			family: "object"}, true
	}
	if c.BaseSchema != "pg_catalog" {
		return scalarMap{}, false
	}
	return builtin(c)
}

// MapColumn maps one column.
func MapColumn(c ColumnInfo) Mapping {
	m, ok := scalarFor(c)
	if !ok {
		return Mapping{Schema: map[string]any{}, Kind: record.KindUnsupported, Dims: c.Dims}
	}
	if c.Dims == 0 {
		s := map[string]any{"type": jsonType(m.jsonTypes, c.PrimaryKey)}
		for k, v := range m.extra {
			s[k] = v
		}
		return Mapping{Schema: s, Kind: m.kind, Supported: true, Orderable: m.orderable}
	}
	name := "sdc_recursive_" + m.family + "_array"
	def := map[string]any{
		"type":  append(append([]string{"null"}, m.jsonTypes...), "array"),
		"items": map[string]any{"$ref": "#/definitions/" + name},
	}
	if m.family == "json" {
		def["type"] = []string{"null", "object", "array", "string", "number", "boolean"}
	}
	switch {
	case strings.HasPrefix(m.family, "decimal_"):
		for k, v := range m.extra {
			def[k] = v
		}
	case m.family == "timestamp":
		def["format"] = "date-time"
	}
	return Mapping{
		Schema: map[string]any{
			"type":  jsonType([]string{"array"}, c.PrimaryKey),
			"items": map[string]any{"$ref": "#/definitions/" + name},
		},
		Kind: m.kind, Dims: c.Dims, Supported: true,
		Definitions: map[string]any{name: def},
	}
}

// BaseDefinitions are the recursive array definitions tap-postgres puts in
// every stream's schema.
func BaseDefinitions() map[string]any {
	def := func(types ...string) map[string]any {
		return map[string]any{"type": types}
	}
	d := map[string]any{
		"sdc_recursive_integer_array":   def("null", "integer", "array"),
		"sdc_recursive_number_array":    def("null", "number", "array"),
		"sdc_recursive_string_array":    def("null", "string", "array"),
		"sdc_recursive_boolean_array":   def("null", "boolean", "array"),
		"sdc_recursive_timestamp_array": def("null", "string", "array"),
		"sdc_recursive_object_array":    def("null", "object", "array"),
	}
	d["sdc_recursive_timestamp_array"].(map[string]any)["format"] = "date-time"
	for name, v := range d {
		v.(map[string]any)["items"] = map[string]any{"$ref": "#/definitions/" + name}
	}
	return d
}

// SQLDataType is the column's sql-datatype metadata: format_type(atttypid,
// NULL), except bit(n) with n > 1 which tap-postgres writes with its length.
func SQLDataType(c ColumnInfo) string {
	if c.Type == "bit" && c.Typmod > 1 {
		return "bit(" + strconv.Itoa(int(c.Typmod)) + ")"
	}
	return c.Type
}

func jsonType(types []string, key bool) []string {
	if key {
		return append([]string(nil), types...)
	}
	return append([]string{"null"}, types...)
}

func intBounds(bits uint) (int64, int64) {
	if bits == 64 {
		return -1 << 63, 1<<63 - 1
	}
	return -(int64(1) << (bits - 1)), int64(1)<<(bits-1) - 1
}

// numericPrecisionScale decodes a numeric typmod ((p << 16) | s) + 4, with
// the scale an 11-bit signed value (PostgreSQL 15 allows negative scales).
// Unconstrained and oversized values are capped like tap-postgres does.
func numericPrecisionScale(typmod int32) (int, int) {
	if typmod < 4 {
		return MaxPrecision, MaxScale
	}
	v := typmod - 4
	p := int((v >> 16) & 0xffff)
	s := int(((v & 0x7ff) ^ 1024) - 1024)
	if p > MaxPrecision {
		p = MaxPrecision
	}
	if s > MaxScale {
		s = MaxScale
	}
	return p, s
}

func decimalFamily(p, s int) string {
	return "decimal_" + strconv.Itoa(p) + "_" + strings.ReplaceAll(strconv.Itoa(s), "-", "neg")
}

// numericBounds are tap-postgres' keywords: multipleOf 10^-s and exclusive
// bounds ±10^(p-s), written as exact JSON numbers the way Python prints them.
func numericBounds(p, s int) map[string]any {
	return map[string]any{
		"multipleOf":       pow10(-s),
		"maximum":          pow10(p - s),
		"minimum":          json.Number("-" + string(pow10(p-s))),
		"exclusiveMaximum": true,
		"exclusiveMinimum": true,
	}
}

// pow10 returns 10^n as JSON number text: integers in full, negative powers
// as Python's float repr prints them (0.01, 0.0001, 1e-05).
func pow10(n int) json.Number {
	if n >= 0 {
		return json.Number("1" + strings.Repeat("0", n))
	}
	if n >= -4 {
		return json.Number("0." + strings.Repeat("0", -n-1) + "1")
	}
	return json.Number("1e-" + twoDigits(-n))
}

func twoDigits(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}
