package encode

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/pg2s3/pg2s3/shared/warehouse"
)

// Conversion of the JSON contract's values to Parquet values.

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
	if len(raw) > 0 && len(raw) <= 18 { // 18 digits cannot overflow
		start, neg := 0, raw[0] == '-'
		if neg {
			start = 1
		}
		if i, n, _, _ := digitRun(raw, start, 0, 0); i == len(raw) && i > start {
			if neg {
				n = -n
			}
			return n, nil
		}
	}
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
	for i := range len(layout) {
		if layout[i] == '0' {
			if raw[i]-'0' > 9 { // not a digit (bytes below '0' wrap around)
				return 0, false
			}
		} else if layout[i] != raw[i] {
			return 0, false
		}
	}
	year, month, day := digitsValue(raw[1:5]), digitsValue(raw[6:8]), digitsValue(raw[9:11])
	hour, minute, sec, micro := digitsValue(raw[12:14]), digitsValue(raw[15:17]), digitsValue(raw[18:20]), digitsValue(raw[21:27])
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	secs := (daysFromCivil(year, month, day)*24+int64(hour))*3600 + int64(minute)*60 + int64(sec)
	return secs*1_000_000 + int64(micro), true
}

// digitsValue is the number b spells, ASCII digits only.
func digitsValue(b []byte) int {
	n := 0
	for _, c := range b {
		n = n*10 + int(c-'0')
	}
	return n
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
	if c.width == 0 {
		if n, ok := smallDecimal(raw, c.typ.Scale, c.typ.Precision); ok {
			if c.typ.Precision <= 9 {
				return parquet.Int32Value(int32(n)), nil
			}
			return parquet.Int64Value(n), nil
		}
	}
	neg, digits, err := unscaledDigits(c.digits[:0], raw, c.typ.Scale)
	if err != nil {
		return parquet.Value{}, err
	}
	c.digits = digits[:0]
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
	n := new(big.Int) // zero has no digits: SetString("") would fail
	if len(digits) > 0 {
		n.SetString(string(digits), 10) // digits only: cannot fail
	}
	if neg {
		n.Sub(new(big.Int).Lsh(big.NewInt(1), uint(8*c.width)), n) // two's complement
	}
	return parquet.FixedLenByteArrayValue(n.FillBytes(make([]byte, c.width))), nil
}

// smallDecimal is decimalValue's fast path for the form PostgreSQL
// prints a numeric in (-?digits, then . and digits): the unscaled value
// of raw at scale, when it has at most precision (<= 18) significant
// digits and no more fractional digits than scale. Anything else (an
// exponent, a leading zero, too many digits) is false: the slow path
// reads it or says what is wrong with it.
func smallDecimal(raw []byte, scale, precision int) (int64, bool) {
	i, neg := 0, false
	if len(raw) > 0 && raw[0] == '-' {
		i, neg = 1, true
	}
	start := i
	i, n, sig, ok := digitRun(raw, i, 0, 0)
	if !ok || i == start || (raw[start] == '0' && i-start > 1) {
		return 0, false
	}
	frac := 0
	if i < len(raw) && raw[i] == '.' {
		i++
		fstart := i
		if i, n, sig, ok = digitRun(raw, i, n, sig); !ok {
			return 0, false
		}
		if frac = i - fstart; frac == 0 {
			return 0, false
		}
	}
	if i != len(raw) || frac > scale {
		return 0, false
	}
	for range scale - frac {
		if n != 0 {
			sig++
		}
		n *= 10
	}
	if sig > precision {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// digitRun reads the run of digits of raw at i onto n, counting the
// significant ones (from the first that is not zero) onto sig: false
// when they pass 18, which an int64 might not hold.
func digitRun(raw []byte, i int, n int64, sig int) (int, int64, int, bool) {
	for ; i < len(raw) && raw[i] >= '0' && raw[i] <= '9'; i++ {
		if n != 0 || raw[i] != '0' {
			sig++
		}
		n = n*10 + int64(raw[i]-'0')
		if sig > 18 {
			return i, n, sig, false
		}
	}
	return i, n, sig, true
}

// unscaledDigits returns a JSON number's sign and the digits of its value
// times 10^scale (no leading zeros; empty for zero), appended to dst. A
// number with more fractional digits than scale is an error unless they
// are zeros.
func unscaledDigits(dst, raw []byte, scale int) (neg bool, digits []byte, err error) {
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
	all := append(append(dst, intPart...), frac...)
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
	zeros := 0
	for zeros < len(all) && all[zeros] == '0' {
		zeros++
	}
	all = all[:copy(all, all[zeros:])] // in place: the digits start where dst did
	if len(all) == 0 {
		neg = false
	}
	return neg, all, nil
}
