package encode

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/warehouse"
)

// RowWriter is a LineWriter that also takes a copy's rows as they were
// read, in PostgreSQL's text form, with no JSON line in between: the
// Parquet writer converts each value straight to its Parquet value, to
// the same contents WriteLine gives the JSON line RowEncoder.AppendRow
// makes of the same row, and counts the bytes that line would have.
type RowWriter interface {
	LineWriter
	// WriteRow writes one row: vals parallel to the stream's columns (a
	// nil slice is null), as RowEncoder.AppendRow takes them. The values
	// may be reused by the caller once WriteRow returns. A value that
	// cannot be converted is a *ColumnError.
	WriteRow(vals [][]byte, meta *Meta) error
}

// ColumnError is a value of a row that its column's kind cannot convert:
// the error RowEncoder.AppendRow would have given for the same value.
type ColumnError struct {
	Column string
	Err    error
}

func (e *ColumnError) Error() string { return fmt.Sprintf("column %s: %v", e.Column, e.Err) }
func (e *ColumnError) Unwrap() error { return e.Err }

// The fixed parts of appendMeta's output, for its length.
const (
	metaFixed = len(`"_sdc_extracted_at":"`) + len(`","_sdc_batched_at":"`) + len(`","_sdc_deleted_at":`) +
		len(`,"_sdc_table_version":`) + len(`,"_sdc_sequence":`) + len("}\n")
	metaLSN = len(`,"_sdc_lsn":`)
)

// WriteRow converts one row read from a table and adds it to the file.
// Every selected column is present, so _sdc_unchanged is null. The values
// go straight into the chunk's next place (no row in between).
func (p *ParquetLines) WriteRow(vals [][]byte, meta *Meta) error {
	if p.err != nil {
		return p.err
	}
	ncols := p.selected()
	if len(vals) != ncols {
		return fmt.Errorf("row %d: %d values for %d columns", p.Rows+1, len(vals), ncols)
	}
	cols, r := p.cur.cols[:len(p.cols)], p.n
	n := 1 // the line's length: '{'
	for i, v := range vals {
		c := &p.cols[i]
		n += len(c.raw) + 3 // "name":
		if i > 0 {
			n++
		}
		if v == nil {
			n += len("null")
			cols[i][r] = p.nulls[i]
			continue
		}
		slot := &cols[i][r]
		size, err := p.convert(c, v, slot)
		if err != nil {
			return &ColumnError{Column: c.name, Err: err}
		}
		n += size
		if slot.IsNull() {
			*slot = p.nulls[i]
		} else { // setValue's levels, by hand: it is not inlined
			slot.SetDefinitionLevel(1)
			slot.SetColumnIndex(i)
		}
	}
	size, err := p.meta(cols[ncols:], r, ncols, meta)
	if err != nil {
		return fmt.Errorf("row %d: %w", p.Rows+1, err)
	}
	n += size
	if ncols > 0 {
		n++ // the comma before the metadata
	}
	cols[p.unchanged][r] = p.nulls[p.unchanged]
	return p.counted(int64(n))
}

// setValue puts the non-null value v of column i in place, with its
// levels: parquet-go's setters are inlined where Value.Level, which
// returns a copy, is a call (it was a tenth of the writer's time).
func setValue(slot *parquet.Value, v parquet.Value, i int) {
	*slot = v
	slot.SetDefinitionLevel(1)
	slot.SetColumnIndex(i)
}

// selected is the number of the stream's selected columns: the file's
// columns before the _sdc_ ones.
func (p *ParquetLines) selected() int {
	return len(p.cols) - len(warehouse.MetaFields) - len(warehouse.ParquetMeta)
}

// meta sets the _sdc_ fields of row r (cols[0] is _sdc_extracted_at's
// column, column first of the file) and returns the length appendMeta
// gives them.
func (p *ParquetLines) meta(cols [][]parquet.Value, r, first int, m *Meta) (int, error) {
	n := metaFixed + len(m.ExtractedAt) + len(m.BatchedAt) + intLen(m.TableVersion) + intLen(m.Sequence)
	if m.ExtractedAt != p.extractedText {
		us, err := p.instant(m.ExtractedAt)
		if err != nil {
			return 0, fmt.Errorf("_sdc_extracted_at: %w", err)
		}
		p.extractedText, p.extracted = m.ExtractedAt, parquet.Int64Value(us).Level(0, 1, first)
	}
	if m.BatchedAt != p.batchedText {
		us, err := p.instant(m.BatchedAt)
		if err != nil {
			return 0, fmt.Errorf("_sdc_batched_at: %w", err)
		}
		p.batchedText, p.batched = m.BatchedAt, parquet.Int64Value(us).Level(0, 1, first+1)
	}
	cols[0][r], cols[1][r] = p.extracted, p.batched // with their levels
	if m.DeletedAt == "" {
		n += len("null")
		cols[2][r] = p.nulls[first+2]
	} else {
		n += len(m.DeletedAt) + 2
		us, err := p.instant(m.DeletedAt)
		if err != nil {
			return 0, fmt.Errorf("_sdc_deleted_at: %w", err)
		}
		setValue(&cols[2][r], parquet.Int64Value(us), first+2)
	}
	setValue(&cols[3][r], parquet.Int64Value(m.TableVersion), first+3)
	if m.LSN == 0 {
		cols[4][r] = p.nulls[first+4]
	} else {
		if m.LSN > math.MaxInt64 {
			return 0, fmt.Errorf("_sdc_lsn: %d is not a 64-bit integer", m.LSN)
		}
		n += metaLSN + intLen(int64(m.LSN))
		setValue(&cols[4][r], parquet.Int64Value(int64(m.LSN)), first+4)
	}
	setValue(&cols[5][r], parquet.Int64Value(m.Sequence), first+5)
	return n, nil
}

// instant reads a metadata timestamp as the JSON line would hold it.
func (p *ParquetLines) instant(s string) (int64, error) {
	p.scratch = append(append(append(p.scratch[:0], '"'), s...), '"')
	return parseInstant(p.scratch)
}

// intLen is the length of n in decimal.
func intLen(n int64) int {
	var b [20]byte
	return len(strconv.AppendInt(b[:0], n, 10))
}

// convert puts in dst the Parquet value (without levels) of one non-null
// text-form value of column c, and returns the length of its JSON form
// (AppendValue's output). Its value is what value gives for that JSON
// form; kinds without a direct conversion here go through it. (It writes
// in place: returning a parquet.Value cost a copy through memory.)
func (p *ParquetLines) convert(c *pqColumn, v []byte, dst *parquet.Value) (int, error) {
	if c.dims > 0 || c.kind == record.KindHstore {
		// JSON text (arrays, hstore): the value is the JSON form itself.
		start := len(p.arena)
		out, err := AppendValue(p.arena, c.kind, c.dims, v)
		if err != nil {
			p.arena = out[:start]
			return 0, err
		}
		p.arena = out
		*dst = parquet.ByteArrayValue(out[start:])
		return len(out) - start, nil
	}
	switch c.kind {
	case record.KindString:
		if size, ok := stringJSONLen(v); ok && c.typ.Logical == warehouse.String {
			*dst = p.text(v)
			return size, nil
		}
	case record.KindInteger:
		if c.typ.Logical != warehouse.Int64 {
			break
		}
		if !isNumber(v) {
			return 0, fmt.Errorf("integer value %q is not a number", v)
		}
		x, err := parseInt64(v)
		*dst = parquet.Int64Value(x)
		return len(v), err
	case record.KindNumber:
		special := string(v) == "NaN" || string(v) == "Infinity" || string(v) == "-Infinity"
		if !special && !isNumber(v) {
			return 0, fmt.Errorf("number value %q is not a number", v)
		}
		size := len(v)
		if special {
			size += 2
		}
		switch c.typ.Logical {
		case warehouse.Double:
			var f float64
			switch string(v) {
			case "NaN":
				f = math.NaN()
			case "Infinity":
				f = math.Inf(1)
			case "-Infinity":
				f = math.Inf(-1)
			default:
				var err error
				if f, err = strconv.ParseFloat(string(v), 64); err != nil {
					return 0, fmt.Errorf("%.40s is not a number", v)
				}
			}
			*dst = parquet.DoubleValue(f)
			return size, nil
		case warehouse.Decimal:
			if special {
				*dst = parquet.Value{}
				return size, nil
			}
			var err error
			*dst, err = decimalValue(v, c)
			return size, err
		case warehouse.String:
			*dst = p.text(v)
			return size, nil
		}
	case record.KindBool, record.KindBit1:
		if c.typ.Logical != warehouse.Bool {
			break
		}
		t, f := byte('t'), byte('f')
		if c.kind == record.KindBit1 {
			t, f = '1', '0'
		}
		if len(v) == 1 && v[0] == t {
			*dst = parquet.BooleanValue(true)
			return len("true"), nil
		}
		if len(v) == 1 && v[0] == f {
			*dst = parquet.BooleanValue(false)
			return len("false"), nil
		}
		return 0, fmt.Errorf("boolean value %q is not %c or %c", v, t, f)
	case record.KindJSON:
		if c.typ.Logical != warehouse.JSON {
			break
		}
		if len(v) == 0 {
			*dst = parquet.Value{}
			return len("null"), nil
		}
		raw := trimSpace(v)
		if string(raw) == "null" {
			*dst = parquet.Value{}
			return len(v), nil
		}
		*dst = p.text(raw)
		return len(v), nil
	case record.KindTimestamp, record.KindTimestampTZ, record.KindDate:
		if c.typ.Logical != warehouse.Timestamp {
			break
		}
		var err error
		if c.kind == record.KindDate {
			p.scratch, err = appendDate(p.scratch[:0], v)
		} else {
			p.scratch, err = appendTimestamp(p.scratch[:0], v)
		}
		if err != nil {
			return 0, err
		}
		us, err := parseInstant(p.scratch)
		*dst = parquet.Int64Value(us)
		return len(p.scratch), err
	case record.KindBytea:
		if c.typ.Logical != warehouse.String {
			break
		}
		start := len(p.arena)
		out, err := appendBytea(p.arena, v)
		if err != nil {
			p.arena = out[:start]
			return 0, err
		}
		p.arena = out
		*dst = parquet.ByteArrayValue(out[start+1 : len(out)-1])
		return len(out) - start, nil
	}
	// Any other value: its JSON form, converted as WriteLine converts it.
	var err error
	if p.scratch, err = AppendValue(p.scratch[:0], c.kind, c.dims, v); err != nil {
		return 0, err
	}
	*dst, err = p.value(c, trimSpace(p.scratch))
	return len(p.scratch), err
}

// trimSpace returns b without JSON whitespace at either end (what the
// member scanner leaves out of a value).
func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// stringJSONLen returns the length of AppendString's output for s, and
// false when s is not valid UTF-8 (AppendString replaces those bytes:
// the text is then not s).
func stringJSONLen(s []byte) (int, bool) {
	n := len(s) + 2
	for i := 0; i < len(s); {
		for i+8 <= len(s) && plain8(binary.LittleEndian.Uint64(s[i:])) { // as AppendString
			i += 8
		}
		if i >= len(s) {
			break
		}
		b := s[i]
		if b < utf8.RuneSelf {
			i++
			if safe[b] {
				continue
			}
			switch b {
			case '"', '\\', '\n', '\r', '\t':
				n++
			default:
				n += 5 // \u00XX
			}
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			return 0, false
		}
		if r == '\u2028' || r == '\u2029' {
			n += 3 // \u202X in place of three bytes
		}
		i += size
	}
	return n, true
}
