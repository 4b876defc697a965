package encode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// readParquet decodes a Parquet data object into the JSON contract's rows:
// the same maps a JSON Lines object of the same rows decodes to. Columns
// named in _sdc_unchanged are left out (as JSON Lines leaves them out),
// _sdc_unchanged itself is dropped, and so is a null _sdc_lsn.
func readParquet(body []byte) ([]map[string]any, error) {
	f, err := parquet.OpenFile(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return nil, fmt.Errorf("open Parquet: %w", err)
	}
	forms := map[string]string{}
	if s, ok := f.Lookup(JSONFormsKey); ok {
		if err := json.Unmarshal([]byte(s), &forms); err != nil {
			return nil, fmt.Errorf("parquet metadata %s: %w", JSONFormsKey, err)
		}
	}
	fields := f.Schema().Fields()
	decoders := make([]func(parquet.Value) (any, error), len(fields))
	for i, fd := range fields {
		if !fd.Leaf() {
			return nil, fmt.Errorf("column %s is nested: not a pg2s3 data object", fd.Name())
		}
		if decoders[i], err = contractDecoder(fd.Type(), forms[fd.Name()]); err != nil {
			return nil, fmt.Errorf("column %s: %w", fd.Name(), err)
		}
	}
	var out []map[string]any
	buf := make([]parquet.Row, 256)
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		for {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				m, err := contractRow(row, fields, decoders)
				if err != nil {
					rows.Close()
					return nil, fmt.Errorf("row %d: %w", len(out)+1, err)
				}
				out = append(out, m)
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("read Parquet rows: %w", err)
			}
		}
		rows.Close()
	}
	return out, nil
}

func contractRow(row parquet.Row, fields []parquet.Field, decoders []func(parquet.Value) (any, error)) (map[string]any, error) {
	m := make(map[string]any, len(fields))
	for _, v := range row {
		i := v.Column()
		if i < 0 || i >= len(fields) {
			return nil, fmt.Errorf("value of column %d outside the schema", i)
		}
		if v.IsNull() {
			m[fields[i].Name()] = nil
			continue
		}
		x, err := decoders[i](v)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", fields[i].Name(), err)
		}
		m[fields[i].Name()] = x
	}
	if names, ok := m[unchangedField].(string); ok {
		var absent []string
		if err := json.Unmarshal([]byte(names), &absent); err != nil {
			return nil, fmt.Errorf("%s: %w", unchangedField, err)
		}
		for _, n := range absent {
			delete(m, n)
		}
	}
	delete(m, unchangedField)
	if v, ok := m["_sdc_lsn"]; ok && v == nil {
		delete(m, "_sdc_lsn")
	}
	return m, nil
}

// contractDecoder returns how a column's non-null values turn back into
// the JSON contract's values.
func contractDecoder(t parquet.Type, form string) (func(parquet.Value) (any, error), error) {
	var lt any
	if l := t.LogicalType(); l != nil {
		lt = l.Value
	}
	switch l := lt.(type) {
	case *format.DecimalType:
		scale := int(l.Scale)
		switch t.Kind() {
		case parquet.Int32:
			return func(v parquet.Value) (any, error) { return formatDecimal(big.NewInt(int64(v.Int32())), scale), nil }, nil
		case parquet.Int64:
			return func(v parquet.Value) (any, error) { return formatDecimal(big.NewInt(v.Int64()), scale), nil }, nil
		case parquet.FixedLenByteArray, parquet.ByteArray:
			return func(v parquet.Value) (any, error) { return formatDecimal(twosComplement(v.ByteArray()), scale), nil }, nil
		}
	case *format.TimestampType:
		if _, micros := l.Unit.Value.(*format.MicroSeconds); micros && t.Kind() == parquet.Int64 {
			return func(v parquet.Value) (any, error) {
				return time.UnixMicro(v.Int64()).UTC().Format(contractTimestamp), nil
			}, nil
		}
	}
	switch t.Kind() {
	case parquet.Int64:
		return func(v parquet.Value) (any, error) { return json.Number(strconv.FormatInt(v.Int64(), 10)), nil }, nil
	case parquet.Int32:
		return func(v parquet.Value) (any, error) { return json.Number(strconv.FormatInt(int64(v.Int32()), 10)), nil }, nil
	case parquet.Boolean:
		return func(v parquet.Value) (any, error) { return v.Boolean(), nil }, nil
	case parquet.Double:
		threshold := 15 // PostgreSQL's float8 prints fixed-point below 1e15
		if form == formReal {
			threshold = 6 // float4 below 1e6
		}
		return func(v parquet.Value) (any, error) { return contractFloat(v.Double(), threshold), nil }, nil
	case parquet.ByteArray:
		switch form {
		case formJSON:
			return func(v parquet.Value) (any, error) {
				dec := json.NewDecoder(bytes.NewReader(v.ByteArray()))
				dec.UseNumber()
				var x any
				if err := dec.Decode(&x); err != nil {
					return nil, fmt.Errorf("JSON text: %w", err)
				}
				return x, nil
			}, nil
		case formNumber:
			return func(v parquet.Value) (any, error) {
				s := string(v.ByteArray())
				switch s {
				case "NaN", "Infinity", "-Infinity":
					return s, nil
				}
				return json.Number(s), nil
			}, nil
		}
		return func(v parquet.Value) (any, error) { return string(v.ByteArray()), nil }, nil
	}
	return nil, fmt.Errorf("type %s is not one pg2s3 writes", t)
}

// contractTimestamp is the output contract's instant form.
const contractTimestamp = "2006-01-02T15:04:05.000000Z"

// contractFloat prints f as PostgreSQL prints a float (shortest digits,
// fixed-point for exponents from -4 below threshold), NaN and the
// infinities as the contract's strings.
func contractFloat(f float64, threshold int) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // [-]d[.ddd]e±XX
	e := strings.IndexByte(s, 'e')
	exp, _ := strconv.Atoi(s[e+1:])
	if exp < -4 || exp >= threshold {
		return json.Number(s)
	}
	neg := strings.HasPrefix(s, "-")
	digits := strings.Replace(strings.TrimPrefix(s[:e], "-"), ".", "", 1)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	switch {
	case exp < 0:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -exp-1))
		b.WriteString(digits)
	case exp+1 >= len(digits):
		b.WriteString(digits)
		b.WriteString(strings.Repeat("0", exp+1-len(digits)))
	default:
		b.WriteString(digits[:exp+1])
		b.WriteByte('.')
		b.WriteString(digits[exp+1:])
	}
	return json.Number(b.String())
}

// formatDecimal prints unscaled × 10^-scale with exactly scale fractional
// digits, as PostgreSQL prints numeric(p,s).
func formatDecimal(unscaled *big.Int, scale int) json.Number {
	s := unscaled.String()
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if scale > 0 {
		if len(s) <= scale {
			s = strings.Repeat("0", scale-len(s)+1) + s
		}
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	}
	if neg {
		s = "-" + s
	}
	return json.Number(s)
}

// twosComplement reads big-endian two's complement bytes.
func twosComplement(b []byte) *big.Int {
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return n
}
