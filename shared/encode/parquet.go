package encode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/warehouse"
)

// DefaultRowGroupBytes bounds the JSON bytes a Parquet writer buffers
// before it writes a row group: a row group is held in memory (encoded and
// compressed) until it is written, so this bounds a batch's memory
// whatever the batch size.
const DefaultRowGroupBytes = 16 << 20

// JSONFormsKey is the Parquet key-value metadata entry that tells how the
// columns whose JSON form the Parquet type does not imply appear in the
// JSON contract: a JSON object of column name to "number" (a UTF8 column
// holding a JSON number's text, or NaN/Infinity/-Infinity), "json" (a
// UTF8 column holding JSON text) or "real" (a DOUBLE column of a
// PostgreSQL real, printed with float4's digits).
const JSONFormsKey = "pg2s3.json_forms"

// Forms of JSONFormsKey.
const (
	formNumber = "number"
	formJSON   = "json"
	formReal   = "real"
)

// unchangedField is the name of warehouse.ParquetMeta's one field.
var unchangedField = warehouse.ParquetMeta[0].Name

// ParquetLines converts encoded rows (JSON lines of the output contract)
// into typed rows of a Parquet file, with the columns of
// warehouse.ParquetFields: every column optional, snappy pages, a row
// group written each time RowGroupBytes of JSON have been buffered.
type ParquetLines struct {
	// RowGroupBytes is the JSON bytes buffered before a row group is
	// written (DefaultRowGroupBytes unless changed before the first line).
	RowGroupBytes int64
	// Rows and Plain count the rows and JSON bytes written; RowGroups the
	// row groups (complete after Close).
	Rows, Plain int64
	RowGroups   int

	pw        *parquet.GenericWriter[any]
	cols      []pqColumn
	byName    map[string]int // raw (escaped) name -> column
	unchanged int            // index of _sdc_unchanged
	nulls     parquet.Row    // a row of nulls, copied into each new row
	present   []bool
	// pending rows are handed to the Parquet writer together, which is
	// much cheaper than a row at a time; their text is copied into arena,
	// since the caller reuses its line.
	pending []parquet.Row
	n       int
	arena   []byte
	group   int64 // JSON bytes in the open row group
}

// Pending rows are written to the Parquet writer once there are this many,
// or this many bytes of their text.
const (
	pendingRows  = 256
	pendingBytes = 1 << 20
)

// pqColumn is one column of the Parquet file.
type pqColumn struct {
	name  string
	raw   string // the name as a line spells it (JSON escapes, no quotes)
	typ   warehouse.Type
	meta  bool // an _sdc_ field rather than a selected column
	width int  // FIXED_LEN_BYTE_ARRAY bytes of a wide decimal
}

// NewParquetLines writes stream s's rows to w as one Parquet file.
func NewParquetLines(w io.Writer, s *record.Stream) (*ParquetLines, error) {
	fields := warehouse.ParquetFields(s)
	p := &ParquetLines{RowGroupBytes: DefaultRowGroupBytes, byName: map[string]int{}, present: make([]bool, len(fields))}
	nodes := make(orderedGroup, len(fields))
	forms := map[string]string{}
	for i, f := range fields {
		raw := AppendString(nil, []byte(f.Name))
		c := pqColumn{name: f.Name, raw: string(raw[1 : len(raw)-1]), typ: f.Type, meta: f.Column == nil}
		if _, dup := p.byName[c.raw]; dup {
			return nil, fmt.Errorf("stream %s: two output fields are named %q: rename the column or leave it out of the selection", s.ID, f.Name)
		}
		node, width, err := parquetNode(f.Type)
		if err != nil {
			return nil, fmt.Errorf("stream %s: column %s: %w", s.ID, f.Name, err)
		}
		c.width = width
		nodes[i] = namedField{Node: parquet.Optional(node), name: f.Name}
		if form := jsonForm(f); form != "" {
			forms[f.Name] = form
		}
		p.byName[c.raw] = i
		p.cols = append(p.cols, c)
	}
	p.unchanged = len(fields) - 1
	formsJSON, _ := json.Marshal(forms)
	schema := parquet.NewSchema(parquetSchemaName(s), nodes)
	p.pw = parquet.NewGenericWriter[any](w, schema,
		parquet.Compression(&parquet.Snappy),
		parquet.DataPageVersion(1),
		parquet.CreatedBy("pg2s3", "", ""),
		parquet.KeyValueMetadata(JSONFormsKey, string(formsJSON)))
	p.nulls = make(parquet.Row, len(fields))
	for i := range p.nulls {
		p.nulls[i] = parquet.Value{}.Level(0, 0, i)
	}
	p.pending = make([]parquet.Row, pendingRows)
	for i := range p.pending {
		p.pending[i] = make(parquet.Row, len(fields))
	}
	return p, nil
}

func parquetSchemaName(s *record.Stream) string {
	if s.Table != "" {
		return s.Table
	}
	return "row"
}

// parquetNode returns the Parquet leaf of a warehouse type, and the byte
// width of a FIXED_LEN_BYTE_ARRAY decimal.
func parquetNode(t warehouse.Type) (parquet.Node, int, error) {
	switch t.Logical {
	case warehouse.Int64:
		return parquet.Leaf(parquet.Int64Type), 0, nil
	case warehouse.Double:
		return parquet.Leaf(parquet.DoubleType), 0, nil
	case warehouse.Decimal:
		p, s := t.Precision, t.Scale
		switch {
		case p < 1 || s < 0 || s > p || p > 38:
			return nil, 0, fmt.Errorf("decimal(%d,%d) cannot be a Parquet DECIMAL", p, s)
		case p <= 9:
			return parquet.Decimal(s, p, parquet.Int32Type), 0, nil
		case p <= 18:
			return parquet.Decimal(s, p, parquet.Int64Type), 0, nil
		}
		w := decimalWidth(p)
		return parquet.Decimal(s, p, parquet.FixedLenByteArrayType(w)), w, nil
	case warehouse.Bool:
		return parquet.Leaf(parquet.BooleanType), 0, nil
	case warehouse.Timestamp:
		return parquet.TimestampAdjusted(parquet.Microsecond, true), 0, nil
	}
	return parquet.String(), 0, nil // String and JSON: UTF8 text
}

// decimalWidth is the fewest bytes whose two's complement holds every
// unscaled value of precision p (16 for 38 digits).
func decimalWidth(p int) int {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(p)), nil) // 10^p - 1 must fit
	for w := 1; ; w++ {
		if new(big.Int).Lsh(big.NewInt(1), uint(8*w-1)).Cmp(limit) >= 0 {
			return w
		}
	}
}

// jsonForm returns f's JSONFormsKey entry ("" when the type implies it).
func jsonForm(f warehouse.Field) string {
	switch f.Type.Logical {
	case warehouse.JSON:
		return formJSON
	case warehouse.String:
		if f.Column != nil && f.Column.Kind == record.KindNumber && f.Column.Dims == 0 {
			return formNumber
		}
	case warehouse.Double:
		if f.Column != nil && f.Column.SQLType == "real" {
			return formReal
		}
	}
	return ""
}

// WriteLine converts one encoded row and adds it to the file. Selected
// columns the line leaves out are written null and named in
// _sdc_unchanged.
func (p *ParquetLines) WriteLine(line []byte) error {
	row := p.pending[p.n]
	copy(row, p.nulls)
	clear(p.present)
	sc, err := newMemberScanner(line)
	if err != nil {
		return fmt.Errorf("row %d: %w", p.Rows+1, err)
	}
	next := 0 // lines name the columns in order: try the next one first
	for {
		key, val, ok, err := sc.next()
		if err != nil {
			return fmt.Errorf("row %d: %w", p.Rows+1, err)
		}
		if !ok {
			break
		}
		i := next
		if i >= len(p.cols) || p.cols[i].raw != string(key) {
			var found bool
			if i, found = p.byName[string(key)]; !found || i == p.unchanged {
				return fmt.Errorf("row %d: field %s is not a column of the stream", p.Rows+1, key)
			}
		}
		next = i + 1
		p.present[i] = true
		v, err := p.value(&p.cols[i], val)
		if err != nil {
			return fmt.Errorf("row %d: column %s: %w", p.Rows+1, p.cols[i].name, err)
		}
		if !v.IsNull() {
			row[i] = v.Level(0, 1, i)
		}
	}
	if names := p.absent(); names != nil {
		row[p.unchanged] = parquet.ByteArrayValue(names).Level(0, 1, p.unchanged)
	}
	p.n++
	p.Rows++
	p.Plain += int64(len(line))
	p.group += int64(len(line))
	if p.n == len(p.pending) || len(p.arena) >= pendingBytes || p.group >= p.RowGroupBytes {
		return p.writePending()
	}
	return nil
}

// absent returns the JSON array of the selected columns the current row
// left out, in the arena, or nil when it has them all.
func (p *ParquetLines) absent() []byte {
	start := len(p.arena)
	for i := range p.cols {
		if p.present[i] || p.cols[i].meta {
			continue
		}
		if len(p.arena) == start {
			p.arena = append(p.arena, '[')
		} else {
			p.arena = append(p.arena, ',')
		}
		p.arena = append(p.arena, '"')
		p.arena = append(p.arena, p.cols[i].raw...)
		p.arena = append(p.arena, '"')
	}
	if len(p.arena) == start {
		return nil
	}
	p.arena = append(p.arena, ']')
	return p.arena[start:]
}

// writePending hands the pending rows to the Parquet writer, and writes
// the row group out once it holds RowGroupBytes of JSON.
func (p *ParquetLines) writePending() error {
	if p.n > 0 {
		if _, err := p.pw.WriteRows(p.pending[:p.n]); err != nil {
			return fmt.Errorf("write Parquet rows: %w", err)
		}
	}
	p.n, p.arena = 0, p.arena[:0]
	if p.group >= p.RowGroupBytes {
		if err := p.pw.Flush(); err != nil {
			return fmt.Errorf("write Parquet row group: %w", err)
		}
		p.group = 0
		p.RowGroups++
	}
	return nil
}

// PlainBytes returns the JSON bytes written so far.
func (p *ParquetLines) PlainBytes() int64 { return p.Plain }

// Close writes the last rows and row group and the file's footer (it does
// not close the underlying writer).
func (p *ParquetLines) Close() error {
	if err := p.writePending(); err != nil {
		return err
	}
	if p.group > 0 {
		p.RowGroups++
	}
	if err := p.pw.Close(); err != nil {
		return fmt.Errorf("end Parquet file: %w", err)
	}
	return nil
}

// value converts the raw JSON value of column c; null is the zero Value.
func (p *ParquetLines) value(c *pqColumn, raw []byte) (parquet.Value, error) {
	if string(raw) == "null" {
		return parquet.Value{}, nil
	}
	switch c.typ.Logical {
	case warehouse.Int64:
		n, err := parseInt64(raw)
		if err != nil {
			return parquet.Value{}, err
		}
		return parquet.Int64Value(n), nil
	case warehouse.Double:
		f, err := parseDouble(raw)
		if err != nil {
			return parquet.Value{}, err
		}
		return parquet.DoubleValue(f), nil
	case warehouse.Decimal:
		return decimalValue(raw, c)
	case warehouse.Bool:
		switch string(raw) {
		case "true":
			return parquet.BooleanValue(true), nil
		case "false":
			return parquet.BooleanValue(false), nil
		}
		return parquet.Value{}, fmt.Errorf("%.40s is not a boolean", raw)
	case warehouse.Timestamp:
		us, err := parseInstant(raw)
		if err != nil {
			return parquet.Value{}, err
		}
		return parquet.Int64Value(us), nil
	case warehouse.JSON:
		return p.text(raw), nil
	}
	if raw[0] != '"' { // a number kept as text
		return p.text(raw), nil
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return p.text(raw[1 : len(raw)-1]), nil
	}
	start := len(p.arena)
	var err error
	if p.arena, err = appendUnquoted(p.arena, raw); err != nil {
		return parquet.Value{}, err
	}
	return parquet.ByteArrayValue(p.arena[start:]), nil
}

// text returns a BYTE_ARRAY value of a copy of b in the arena.
func (p *ParquetLines) text(b []byte) parquet.Value {
	start := len(p.arena)
	p.arena = append(p.arena, b...)
	return parquet.ByteArrayValue(p.arena[start:])
}

func parseInt64(raw []byte) (int64, error) {
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%.40s is not a 64-bit integer", raw)
	}
	return n, nil
}

// parseDouble reads a float, NaN and the infinities being JSON strings.
func parseDouble(raw []byte) (float64, error) {
	switch string(raw) {
	case `"NaN"`:
		return math.NaN(), nil
	case `"Infinity"`:
		return math.Inf(1), nil
	case `"-Infinity"`:
		return math.Inf(-1), nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return 0, fmt.Errorf("%.40s is not a number", raw)
	}
	return f, nil
}

// parseInstant reads a JSON string of an RFC 3339 instant as microseconds
// since the epoch.
func parseInstant(raw []byte) (int64, error) {
	if us, ok := parseContractInstant(raw); ok {
		return us, nil
	}
	if len(raw) < 2 || raw[0] != '"' {
		return 0, fmt.Errorf("%.40s is not a timestamp string", raw)
	}
	t, err := time.Parse(time.RFC3339Nano, string(raw[1:len(raw)-1]))
	if err != nil {
		return 0, fmt.Errorf("%.40s is not an RFC 3339 timestamp", raw)
	}
	return t.UnixMicro(), nil
}

// parseContractInstant reads the contract's own form
// "2006-01-02T15:04:05.000000Z" without time.Parse.
func parseContractInstant(raw []byte) (int64, bool) {
	const layout = `"0000-00-00T00:00:00.000000Z"`
	if len(raw) != len(layout) {
		return 0, false
	}
	num := func(from, to int) (int, bool) {
		n := 0
		for _, c := range raw[from:to] {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	for i := range len(layout) {
		if layout[i] != '0' && layout[i] != raw[i] {
			return 0, false
		}
	}
	year, ok1 := num(1, 5)
	month, ok2 := num(6, 8)
	day, ok3 := num(9, 11)
	hour, ok4 := num(12, 14)
	minute, ok5 := num(15, 17)
	sec, ok6 := num(18, 20)
	micro, ok7 := num(21, 27)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	if day > daysIn(year, month) {
		return 0, false
	}
	secs := (daysFromCivil(year, month, day)*24+int64(hour))*3600 + int64(minute)*60 + int64(sec)
	return secs*1_000_000 + int64(micro), true
}

// daysFromCivil returns the days from 1970-01-01 to a proleptic Gregorian
// date (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400 // y >= 0 here: years 0001-9999
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// decimalValue converts a JSON number to column c's DECIMAL: the unscaled
// integer in INT32, INT64 or big-endian two's complement bytes. NaN (and
// the infinities) have no DECIMAL form: null.
func decimalValue(raw []byte, c *pqColumn) (parquet.Value, error) {
	if raw[0] == '"' {
		switch string(raw) {
		case `"NaN"`, `"Infinity"`, `"-Infinity"`:
			return parquet.Value{}, nil
		}
		return parquet.Value{}, fmt.Errorf("%.40s is not a number", raw)
	}
	neg, digits, err := unscaledDigits(raw, c.typ.Scale)
	if err != nil {
		return parquet.Value{}, err
	}
	if len(digits) > c.typ.Precision {
		return parquet.Value{}, fmt.Errorf("%.60s has more than the %d digits of decimal(%d,%d)", raw, c.typ.Precision, c.typ.Precision, c.typ.Scale)
	}
	if c.width == 0 {
		n := int64(0)
		for _, d := range digits {
			n = n*10 + int64(d-'0') // at most 18 digits: no overflow
		}
		if neg {
			n = -n
		}
		if c.typ.Precision <= 9 {
			return parquet.Int32Value(int32(n)), nil
		}
		return parquet.Int64Value(n), nil
	}
	n, _ := new(big.Int).SetString(string(digits), 10)
	if len(digits) == 0 {
		n.SetInt64(0)
	}
	if neg {
		n.Sub(new(big.Int).Lsh(big.NewInt(1), uint(8*c.width)), n) // two's complement
	}
	return parquet.FixedLenByteArrayValue(n.FillBytes(make([]byte, c.width))), nil
}

// unscaledDigits returns a JSON number's sign and the digits of its value
// times 10^scale (no leading zeros; empty for zero). A number with more
// fractional digits than scale is an error unless they are zeros.
func unscaledDigits(raw []byte, scale int) (neg bool, digits []byte, err error) {
	bad := func() (bool, []byte, error) { return false, nil, fmt.Errorf("%.60s is not a decimal number", raw) }
	if !isNumber(raw) {
		return bad()
	}
	s := raw
	if s[0] == '-' {
		neg, s = true, s[1:]
	}
	mant, exp := s, 0
	if e := bytes.IndexAny(s, "eE"); e >= 0 {
		mant = s[:e]
		x, err := strconv.Atoi(string(s[e+1:]))
		if err != nil || x > 1000 || x < -1000 {
			return bad()
		}
		exp = x
	}
	intPart, frac := mant, []byte(nil)
	if dot := bytes.IndexByte(mant, '.'); dot >= 0 {
		intPart, frac = mant[:dot], mant[dot+1:]
	}
	all := make([]byte, 0, len(intPart)+len(frac)+scale)
	all = append(append(all, intPart...), frac...)
	shift := scale + exp - len(frac) // the power of ten still to apply
	if shift >= 0 {
		for range shift {
			all = append(all, '0')
		}
	} else {
		cut := len(all) + shift
		if cut < 0 {
			cut = 0
		}
		for _, d := range all[cut:] {
			if d != '0' {
				return false, nil, fmt.Errorf("%.60s has more than %d fractional digits", raw, scale)
			}
		}
		all = all[:cut]
	}
	for len(all) > 0 && all[0] == '0' {
		all = all[1:]
	}
	if len(all) == 0 {
		neg = false
	}
	return neg, all, nil
}

// orderedGroup is a Parquet group whose columns keep the stream's order
// (parquet.Group sorts them by name).
type orderedGroup []parquet.Field

type namedField struct {
	parquet.Node
	name string
}

func (f namedField) Name() string { return f.name }
func (f namedField) Value(base reflect.Value) reflect.Value {
	return base.MapIndex(reflect.ValueOf(&f.name).Elem())
}

func (g orderedGroup) ID() int                     { return 0 }
func (g orderedGroup) String() string              { return g.group().String() }
func (g orderedGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (g orderedGroup) Optional() bool              { return false }
func (g orderedGroup) Repeated() bool              { return false }
func (g orderedGroup) Required() bool              { return true }
func (g orderedGroup) Leaf() bool                  { return false }
func (g orderedGroup) Fields() []parquet.Field     { return g }
func (g orderedGroup) Encoding() encoding.Encoding { return nil }
func (g orderedGroup) Compression() compress.Codec { return nil }
func (g orderedGroup) GoType() reflect.Type        { return g.group().GoType() }
func (g orderedGroup) group() parquet.Group {
	m := parquet.Group{}
	for _, f := range g {
		m[f.Name()] = f
	}
	return m
}
