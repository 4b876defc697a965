package warehouse

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
)

// StreamsFromCatalog builds the streams a catalog selects without asking
// the database: columns and keys from the catalog's selections, each
// column's type from its JSON Schema and sql-datatype. The types agree with
// what a run resolves against the live table (tables.Source.Resolve) for any
// catalog that discovery wrote and the table has not changed since, so DDL
// written from a catalog matches the objects runs write. Streams with
// problems are reported in the joined error, each naming its stream; the
// others are still returned.
func StreamsFromCatalog(cat *catalog.Catalog, defaultMethod layout.Method) ([]record.Stream, error) {
	sels, selErr := cat.Selections(defaultMethod)
	errs := []error{selErr}
	var out []record.Stream
	for _, sel := range sels {
		s, err := streamFromSelection(cat.Stream(sel.StreamID), sel)
		if err != nil {
			errs = append(errs, fmt.Errorf("stream %s: %w", sel.StreamID, err))
			continue
		}
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

func streamFromSelection(cs *catalog.Stream, sel catalog.Selection) (record.Stream, error) {
	st := record.Stream{
		ID: sel.StreamID, Schema: sel.Schema, Table: sel.Table, IsView: sel.IsView,
		KeyColumns: sel.KeyColumns, Method: sel.Method, ReplicationKey: sel.ReplicationKey,
		JSONSchema: sel.JSONSchema, RowEstimate: sel.RowCount,
	}
	props, _ := sel.JSONSchema["properties"].(map[string]any)
	var errs []error
	for _, name := range sel.Columns {
		prop, _ := props[name].(map[string]any)
		sqlType, _ := cs.ColumnMetadata(name)["sql-datatype"].(string)
		c, err := columnFromSchema(name, sqlType, prop)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st.Columns = append(st.Columns, c)
	}
	return st, errors.Join(errs...)
}

// columnFromSchema types one column from its catalog entry. The JSON
// Schema says the encoding class (catalog.MapColumn wrote it); sql-datatype
// is format_type without the modifier, so a numeric's precision and scale
// come back from the schema's multipleOf and maximum.
func columnFromSchema(name, sqlType string, prop map[string]any) (record.Column, error) {
	c := record.Column{Name: name, SQLType: sqlType}
	types := schemaTypes(prop["type"])
	has := func(t string) bool { return types[t] }
	switch {
	case len(types) == 0:
		return c, fmt.Errorf("column %q has no JSON Schema type (an unsupported type): deselect it or run pg2s3 discover again", name)
	case has("array") && !has("object"):
		c.Dims = 1 // the catalog does not record the dimension count; any array is JSON text
		c.Kind = arrayElementKind(prop)
	case has("object") && has("array"):
		c.Kind = record.KindJSON
	case has("object"):
		c.Kind = record.KindHstore
	case has("integer"):
		c.Kind = record.KindInteger
	case has("number"):
		c.Kind = record.KindNumber
		if strings.EqualFold(sqlType, "numeric") {
			c.SQLType = numericType(prop)
		}
	case has("boolean"):
		c.Kind = record.KindBool
		if strings.HasPrefix(sqlType, "bit") {
			c.Kind = record.KindBit1
		}
	case has("string") && prop["format"] == "date-time":
		c.Kind = timestampKind(sqlType)
	case has("string") && prop["contentEncoding"] == "base64":
		c.Kind = record.KindBytea
	case has("string"):
		c.Kind = record.KindString
	default:
		return c, fmt.Errorf("column %q has JSON Schema type %v, which pg2s3 does not write: run pg2s3 discover again", name, prop["type"])
	}
	return c, nil
}

func schemaTypes(v any) map[string]bool {
	out := map[string]bool{}
	switch t := v.(type) {
	case string:
		out[t] = true
	case []any:
		for _, x := range t {
			if s, ok := x.(string); ok {
				out[s] = true
			}
		}
	case []string:
		for _, s := range t {
			out[s] = true
		}
	}
	delete(out, "null")
	return out
}

// arrayElementKind reads an array's element class from the name of the
// recursive definition its items refer to (sdc_recursive_<family>_array).
func arrayElementKind(prop map[string]any) record.Kind {
	items, _ := prop["items"].(map[string]any)
	ref, _ := items["$ref"].(string)
	family := strings.TrimSuffix(strings.TrimPrefix(ref, "#/definitions/sdc_recursive_"), "_array")
	switch {
	case family == "integer":
		return record.KindInteger
	case family == "number", strings.HasPrefix(family, "decimal_"):
		return record.KindNumber
	case family == "boolean":
		return record.KindBool
	case family == "timestamp":
		return record.KindTimestampTZ
	case family == "json":
		return record.KindJSON
	case family == "object":
		return record.KindHstore
	}
	return record.KindString
}

func timestampKind(sqlType string) record.Kind {
	switch sqlType {
	case "date":
		return record.KindDate
	case "timestamp without time zone":
		return record.KindTimestamp
	}
	return record.KindTimestampTZ
}

// numericType rebuilds format_type's "numeric(p,s)" from the bounds the
// catalog writes (multipleOf 10^-s, maximum 10^(p-s)). An unconstrained
// numeric is described as catalog.MaxPrecision, catalog.MaxScale and stays
// "numeric"; so does a schema without the bounds (a float written by hand).
func numericType(prop map[string]any) string {
	negScale, ok1 := powerOfTen(prop["multipleOf"])
	intDigits, ok2 := powerOfTen(prop["maximum"])
	if !ok1 || !ok2 {
		return "numeric"
	}
	s := -negScale
	p := intDigits + s
	if p == catalog.MaxPrecision && s == catalog.MaxScale || p < 1 {
		return "numeric"
	}
	return fmt.Sprintf("numeric(%d,%d)", p, s)
}

// powerOfTen returns n for a JSON number written as 10^n ("1000", "0.01",
// "1e-05"), as catalog's numeric bounds are.
func powerOfTen(v any) (int, bool) {
	text := fmt.Sprint(v)
	if mant, exp, ok := strings.Cut(text, "e"); ok {
		n, err := strconv.Atoi(exp)
		if err != nil || mant != "1" {
			return 0, false
		}
		return n, true
	}
	if frac, ok := strings.CutPrefix(text, "0."); ok {
		zeros := strings.TrimRight(frac, "1")
		if strings.Trim(zeros, "0") != "" || len(frac) != len(zeros)+1 {
			return 0, false
		}
		return -len(frac), true
	}
	if !strings.HasPrefix(text, "1") || strings.Trim(text[1:], "0") != "" {
		return 0, false
	}
	return len(text) - 1, true
}
