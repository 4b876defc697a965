// Package warehouse maps replicated columns to the column types of
// columnar files and query engines (Parquet, Athena/Glue), so every place
// that describes the output (the Parquet writer, `pg2s3 ddl`, the Glue
// tables of the stack) agrees on one table of types.
package warehouse

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/pg2s3/pg2s3/shared/record"
)

// Logical is the warehouse type class of a column.
type Logical uint8

const (
	// String holds text: the server's text form, base64 for bytea, and
	// numerics without a declared precision (every digit kept).
	String Logical = iota
	// Int64 holds smallint, integer and bigint.
	Int64
	// Double holds real and double precision (NaN and infinities too).
	Double
	// Decimal holds numeric(p,s) with p <= 38; NaN becomes null.
	Decimal
	// Bool holds boolean and bit(1).
	Bool
	// Timestamp holds timestamp, timestamptz and date as microseconds
	// since the epoch in UTC (the JSON contract's instants).
	Timestamp
	// JSON holds json, jsonb, hstore and arrays as JSON text.
	JSON
)

// Type is a column's warehouse type.
type Type struct {
	Logical          Logical
	Precision, Scale int // Decimal
}

var numericTypmod = regexp.MustCompile(`^numeric\((\d+)(?:,(\d+))?\)$`)

// Of returns the warehouse type of a replicated column.
func Of(c record.Column) Type {
	if c.Dims > 0 {
		return Type{Logical: JSON}
	}
	switch c.Kind {
	case record.KindInteger:
		return Type{Logical: Int64}
	case record.KindNumber:
		if m := numericTypmod.FindStringSubmatch(c.SQLType); m != nil {
			p, _ := strconv.Atoi(m[1])
			s, _ := strconv.Atoi(m[2]) // "" (no scale) is 0
			if p <= 38 && s <= p {     // numeric(2,5) is valid in PostgreSQL 15, not a decimal
				return Type{Logical: Decimal, Precision: p, Scale: s}
			}
			return Type{Logical: String}
		}
		if c.SQLType == "real" || c.SQLType == "double precision" {
			return Type{Logical: Double}
		}
		return Type{Logical: String} // numeric without precision: any digits
	case record.KindBool, record.KindBit1:
		return Type{Logical: Bool}
	case record.KindTimestamp, record.KindTimestampTZ, record.KindDate:
		return Type{Logical: Timestamp}
	case record.KindJSON, record.KindHstore:
		return Type{Logical: JSON}
	}
	return Type{Logical: String}
}

// Hive returns the type's name in Athena/Glue (Hive) DDL.
func (t Type) Hive() string {
	switch t.Logical {
	case Int64:
		return "bigint"
	case Double:
		return "double"
	case Decimal:
		return fmt.Sprintf("decimal(%d,%d)", t.Precision, t.Scale)
	case Bool:
		return "boolean"
	case Timestamp:
		return "timestamp"
	}
	return "string"
}

// Field is one column of the output: a replicated column or one of the
// _sdc_* metadata fields.
type Field struct {
	Name string
	Type Type
	// Column is the replicated column (nil for metadata fields).
	Column *record.Column
}

// MetaFields are the _sdc_* fields every row carries, in output order.
// _sdc_lsn is null for streams that are not log-based.
var MetaFields = []Field{
	{Name: "_sdc_extracted_at", Type: Type{Logical: Timestamp}},
	{Name: "_sdc_batched_at", Type: Type{Logical: Timestamp}},
	{Name: "_sdc_deleted_at", Type: Type{Logical: Timestamp}},
	{Name: "_sdc_table_version", Type: Type{Logical: Int64}},
	{Name: "_sdc_lsn", Type: Type{Logical: Int64}},
	{Name: "_sdc_sequence", Type: Type{Logical: Int64}},
}

// ParquetMeta are the fields Parquet data objects carry after MetaFields.
// _sdc_unchanged lists, as a JSON array of names (null when none), the
// selected columns a log change did not carry: an unchanged TOASTed value
// of an update, a delete's non-key columns (without REPLICA IDENTITY FULL).
// Those columns are null in the row but hold no value: a loader keeps the
// previous one. JSON Lines objects leave such columns out instead.
var ParquetMeta = []Field{
	{Name: "_sdc_unchanged", Type: Type{Logical: String}},
}

// ParquetFields returns the fields of a stream's Parquet data objects:
// Fields(s), then ParquetMeta.
func ParquetFields(s *record.Stream) []Field {
	return append(Fields(s), ParquetMeta...)
}

// Fields returns a stream's output fields: its selected columns, then the
// metadata fields.
func Fields(s *record.Stream) []Field {
	out := make([]Field, 0, len(s.Columns)+len(MetaFields))
	for i := range s.Columns {
		c := &s.Columns[i]
		out = append(out, Field{Name: c.Name, Type: Of(*c), Column: c})
	}
	return append(out, MetaFields...)
}
