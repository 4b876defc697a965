package materialize

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/iceberg-go"
)

// Values live in three forms here: the output contract's JSON form as
// encode.ReadObject returns it (json.Number, RFC 3339 strings, nested
// JSON), the native form a materializer merges and writes (int64, float64,
// bool, string, decimal128.Num, micros for timestamps), and Arrow arrays.
// native converts the first to the second, exactly: numbers go through
// their digits, never a float, except for float columns.

// micros is a timestamp as microseconds since the epoch in UTC.
type micros int64

// native returns v, a value of a column of Iceberg type t in the JSON
// contract's form, in the native form; nil stays nil.
func native(t iceberg.Type, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch t := t.(type) {
	case iceberg.Int64Type:
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("want an integer, got %T", v)
		}
		return n.Int64()
	case iceberg.Float64Type:
		switch v := v.(type) {
		case json.Number:
			return v.Float64()
		case string:
			switch v {
			case "NaN":
				return math.NaN(), nil
			case "Infinity":
				return math.Inf(1), nil
			case "-Infinity":
				return math.Inf(-1), nil
			}
		}
		return nil, fmt.Errorf("want a number, got %v", v)
	case iceberg.DecimalType:
		switch v := v.(type) {
		case json.Number:
			return parseDecimal(string(v), t.Scale())
		case string:
			if v == "NaN" { // numeric(p,s) NaN: a decimal cannot hold it (the type table: null)
				return nil, nil
			}
		}
		return nil, fmt.Errorf("want a decimal, got %v", v)
	case iceberg.BooleanType:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("want a boolean, got %T", v)
		}
		return b, nil
	case iceberg.TimestampTzType:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a timestamp, got %T", v)
		}
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, err
		}
		return micros(ts.UnixMicro()), nil
	case iceberg.StringType:
		switch v := v.(type) {
		case string:
			return v, nil
		case json.Number:
			return string(v), nil
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return nil, err
		}
		return strings.TrimSuffix(buf.String(), "\n"), nil
	}
	return nil, fmt.Errorf("no conversion to %s", t)
}

// parseDecimal reads PostgreSQL's text of a numeric(p,s) exactly.
func parseDecimal(s string, scale int) (decimal128.Num, error) {
	digits, neg := s, false
	if strings.HasPrefix(digits, "-") {
		digits, neg = digits[1:], true
	}
	whole, frac, _ := strings.Cut(digits, ".")
	if len(frac) > scale {
		if strings.TrimRight(frac[scale:], "0") != "" {
			return decimal128.Num{}, fmt.Errorf("%s has more than %d decimal places", s, scale)
		}
		frac = frac[:scale]
	}
	frac += strings.Repeat("0", scale-len(frac))
	n, ok := new(big.Int).SetString(whole+frac, 10)
	if !ok || whole == "" && frac == "" {
		return decimal128.Num{}, fmt.Errorf("not a decimal: %q", s)
	}
	if neg {
		n.Neg(n)
	}
	return decimal128.FromBigInt(n), nil
}

// appendNative appends v (native form, or nil) to b, a builder of the
// Arrow type SchemaToArrowSchema gives the column's Iceberg type.
func appendNative(b array.Builder, v any) error {
	if v == nil {
		b.AppendNull()
		return nil
	}
	switch b := b.(type) {
	case *array.Int64Builder:
		b.Append(v.(int64))
	case *array.Float64Builder:
		b.Append(v.(float64))
	case *array.Decimal128Builder:
		b.Append(v.(decimal128.Num))
	case *array.BooleanBuilder:
		b.Append(v.(bool))
	case *array.TimestampBuilder:
		b.Append(arrow.Timestamp(v.(micros)))
	case *array.StringBuilder:
		b.Append(v.(string))
	case *array.LargeStringBuilder:
		b.Append(v.(string))
	default:
		return fmt.Errorf("no append to %T", b)
	}
	return nil
}

// nativeAt returns row i of arr in the native form.
func nativeAt(arr arrow.Array, i int) (any, error) {
	if arr.IsNull(i) {
		return nil, nil
	}
	switch a := arr.(type) {
	case *array.Int64:
		return a.Value(i), nil
	case *array.Float64:
		return a.Value(i), nil
	case *array.Decimal128:
		return a.Value(i), nil
	case *array.Boolean:
		return a.Value(i), nil
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		v := int64(a.Value(i))
		switch unit {
		case arrow.Nanosecond:
			v /= 1000
		case arrow.Millisecond:
			v *= 1000
		case arrow.Second:
			v *= 1_000_000
		}
		return micros(v), nil
	case *array.String:
		return a.Value(i), nil
	case *array.LargeString:
		return a.Value(i), nil
	}
	return nil, fmt.Errorf("no reading of %s", arr.DataType())
}

// literal returns a native value as an Iceberg literal (for key filters).
func literal(t iceberg.Type, v any) (iceberg.Literal, error) {
	switch v := v.(type) {
	case int64:
		return iceberg.NewLiteral(v), nil
	case float64:
		return iceberg.NewLiteral(v), nil
	case bool:
		return iceberg.NewLiteral(v), nil
	case string:
		return iceberg.NewLiteral(v), nil
	case micros:
		return iceberg.NewLiteral(iceberg.Timestamp(v)), nil
	case decimal128.Num:
		dt, _ := t.(iceberg.DecimalType)
		return iceberg.NewLiteral(iceberg.Decimal{Val: v, Scale: dt.Scale()}), nil
	}
	return nil, fmt.Errorf("no literal for %T", v)
}

// keyString is a map key for the native values of a row's key columns.
func keyString(vals []any) string {
	var sb strings.Builder
	for _, v := range vals {
		fmt.Fprintf(&sb, "%T:%v\x00", v, v)
	}
	return sb.String()
}
