package decode

import (
	"fmt"
	"unicode/utf8"

	"github.com/pg2s3/pg2s3/shared/jsonstr"
)

// This file reads wal2json format-version-2 records in one pass over the
// message bytes, without reflection: a record's fields point into the
// message, strings are decoded only when they hold escapes (or invalid
// UTF-8), column values only later, straight into their change's buffer
// (appendValue), and the scanner's buffers are reused from one record to
// the next. It accepts
// exactly the JSON that encoding/json accepts (RFC 8259: escapes,
// numbers, literals, nesting up to 10000 levels) and decodes strings the
// same way (\uXXXX with surrogate pairs; an unpaired surrogate or invalid
// UTF-8 becomes U+FFFD); TestWal2jsonScannerMatchesEncodingJSON holds it
// to that. Keys match exactly as wal2json prints them (encoding/json
// would also match other cases); a repeated key replaces the earlier one.

// w2jKind is the JSON type of a column value.
type w2jKind uint8

const (
	w2jNull   w2jKind = iota // null, or no "value" key
	w2jString                // a JSON string: text, or bytea hex digits
	w2jNumber                // an integer, float or numeric, kept as printed
	w2jTrue                  // a boolean
	w2jFalse
	w2jOther // an object or array: not something wal2json prints
)

// w2jMaxDepth is encoding/json's limit on nested objects and arrays.
const w2jMaxDepth = 10000

// w2jField is one element of a record's "columns" or "identity" list.
type w2jField struct {
	name    []byte // decoded
	typeOID uint32
	kind    w2jKind
	// raw is the value as printed: a string's bytes between the quotes
	// (still escaped unless plain), a number's digits, an object's text.
	raw   []byte
	plain bool // a string without escapes or invalid UTF-8: raw is its value
	idx   int  // position in the table's column list, -1 when absent (set by the decoder)
}

// w2jRecord is one record as the scanner found it. Its byte slices point
// into the message or the scanner's scratch buffer: they are valid until
// the next scan.
type w2jRecord struct {
	action, timestamp, lsn, nextLSN []byte
	schema, table, prefix, content  []byte
	xid                             uint32
	transactional                   bool
	columns, identity               []w2jField
}

// w2jScanner reads one record at a time.
type w2jScanner struct {
	data    []byte
	pos     int
	depth   int
	scratch []byte // decoded keys and strings of the current record
	rec     w2jRecord
}

// scan reads data as one record. The result is valid until the next scan.
func (s *w2jScanner) scan(data []byte) (*w2jRecord, error) {
	cols, ident := s.rec.columns[:0], s.rec.identity[:0]
	s.rec = w2jRecord{columns: cols, identity: ident}
	s.data, s.pos, s.depth, s.scratch = data, 0, 0, s.scratch[:0]
	if err := s.record(); err != nil {
		return nil, err
	}
	s.ws()
	if s.pos < len(s.data) {
		return nil, s.errf("unexpected %q after the record", s.data[s.pos])
	}
	return &s.rec, nil
}

// record reads the top-level object.
func (s *w2jScanner) record() error {
	if err := s.open('{'); err != nil {
		return err
	}
	r := &s.rec
	for n := 0; ; n++ {
		more, err := s.next('}', n)
		if err != nil || !more {
			return err
		}
		key, err := s.key()
		if err != nil {
			return err
		}
		switch string(key) {
		case "action":
			err = s.stringField(&r.action)
		case "xid":
			err = s.uint32Field(&r.xid)
		case "timestamp":
			err = s.stringField(&r.timestamp)
		case "lsn":
			err = s.stringField(&r.lsn)
		case "nextlsn":
			err = s.stringField(&r.nextLSN)
		case "schema":
			err = s.stringField(&r.schema)
		case "table":
			err = s.stringField(&r.table)
		case "columns":
			r.columns, err = s.fields(r.columns[:0])
		case "identity":
			r.identity, err = s.fields(r.identity[:0])
		case "transactional":
			err = s.boolField(&r.transactional)
		case "prefix":
			err = s.stringField(&r.prefix)
		case "content":
			err = s.stringField(&r.content)
		default:
			err = s.skip()
		}
		if err != nil {
			return fmt.Errorf("%q: %w", key, err)
		}
	}
}

// fields reads a "columns" or "identity" array (null is an empty list).
func (s *w2jScanner) fields(list []w2jField) ([]w2jField, error) {
	if s.ws(); s.literal("null") {
		return list, nil
	}
	if err := s.open('['); err != nil {
		return list, err
	}
	for n := 0; ; n++ {
		more, err := s.next(']', n)
		if err != nil || !more {
			s.depth--
			return list, err
		}
		list = append(list, w2jField{})
		if s.literal("null") {
			continue
		}
		if err := s.field(&list[len(list)-1]); err != nil {
			return list, fmt.Errorf("element %d: %w", n, err)
		}
	}
}

// field reads one column object.
func (s *w2jScanner) field(f *w2jField) error {
	if err := s.open('{'); err != nil {
		return err
	}
	for n := 0; ; n++ {
		more, err := s.next('}', n)
		if err != nil || !more {
			s.depth--
			return err
		}
		key, err := s.key()
		if err != nil {
			return err
		}
		switch string(key) {
		case "name":
			err = s.stringField(&f.name)
		case "typeoid":
			err = s.uint32Field(&f.typeOID)
		case "value":
			err = s.value(f)
		default:
			err = s.skip()
		}
		if err != nil {
			return fmt.Errorf("%q: %w", key, err)
		}
	}
}

// value reads a column value.
func (s *w2jScanner) value(f *w2jField) error {
	s.ws()
	if s.pos >= len(s.data) {
		return s.errEnd()
	}
	f.plain = false
	switch c := s.data[s.pos]; {
	case c == '"':
		raw, plain, err := s.str()
		f.kind, f.raw, f.plain = w2jString, raw, plain
		return err
	case c == '-' || c >= '0' && c <= '9':
		raw, err := s.number()
		f.kind, f.raw = w2jNumber, raw
		return err
	case c == '{' || c == '[':
		start := s.pos
		err := s.skip()
		f.kind, f.raw = w2jOther, s.data[start:s.pos]
		return err
	case s.literal("null"):
		f.kind, f.raw = w2jNull, nil
	case s.literal("true"):
		f.kind, f.raw = w2jTrue, nil
	case s.literal("false"):
		f.kind, f.raw = w2jFalse, nil
	default:
		return s.errf("unexpected %q at the start of a value", c)
	}
	return nil
}

// stringField reads a string into *dst (decoded); null leaves *dst as it is.
func (s *w2jScanner) stringField(dst *[]byte) error {
	s.ws()
	if s.literal("null") {
		return nil
	}
	if s.pos >= len(s.data) || s.data[s.pos] != '"' {
		return s.want("a string")
	}
	raw, plain, err := s.str()
	if err != nil {
		return err
	}
	*dst = s.decoded(raw, plain)
	return nil
}

// uint32Field reads an unsigned 32-bit integer; null leaves *dst as it is.
func (s *w2jScanner) uint32Field(dst *uint32) error {
	s.ws()
	if s.literal("null") {
		return nil
	}
	if s.pos >= len(s.data) || s.data[s.pos] != '-' && (s.data[s.pos] < '0' || s.data[s.pos] > '9') {
		return s.want("a number")
	}
	raw, err := s.number()
	if err != nil {
		return err
	}
	var n uint64
	for _, c := range raw {
		if c < '0' || c > '9' {
			return fmt.Errorf("%s is not an unsigned 32-bit integer", raw)
		}
		if n = n*10 + uint64(c-'0'); n > 1<<32-1 {
			return fmt.Errorf("%s is not an unsigned 32-bit integer", raw)
		}
	}
	*dst = uint32(n)
	return nil
}

// boolField reads true or false; null leaves *dst as it is.
func (s *w2jScanner) boolField(dst *bool) error {
	s.ws()
	switch {
	case s.literal("true"):
		*dst = true
	case s.literal("false"):
		*dst = false
	case s.literal("null"):
	default:
		return s.want("true or false")
	}
	return nil
}

// decoded returns a string's value: raw itself when plain, otherwise raw
// decoded into the scratch buffer.
func (s *w2jScanner) decoded(raw []byte, plain bool) []byte {
	if plain {
		return raw
	}
	start := len(s.scratch)
	s.scratch = appendUnescaped(s.scratch, raw)
	return s.scratch[start:len(s.scratch):len(s.scratch)]
}

// key reads an object key and the colon after it.
func (s *w2jScanner) key() ([]byte, error) {
	if s.pos >= len(s.data) || s.data[s.pos] != '"' {
		return nil, s.want("a key")
	}
	raw, plain, err := s.str()
	if err != nil {
		return nil, err
	}
	s.ws()
	if s.pos >= len(s.data) || s.data[s.pos] != ':' {
		return nil, s.want("':' after a key")
	}
	s.pos++
	return s.decoded(raw, plain), nil
}

// open reads the opening bracket of an object or array.
func (s *w2jScanner) open(c byte) error {
	s.ws()
	if s.pos >= len(s.data) || s.data[s.pos] != c {
		if c == '{' {
			return s.want("an object")
		}
		return s.want("an array")
	}
	s.pos++
	if s.depth++; s.depth > w2jMaxDepth {
		return s.errf("nested deeper than %d levels", w2jMaxDepth)
	}
	return nil
}

// next steps to the n-th member of an object or element of an array: it
// reads the comma before it, or the closing bracket (then false).
func (s *w2jScanner) next(closing byte, n int) (bool, error) {
	s.ws()
	if s.pos >= len(s.data) {
		return false, s.errEnd()
	}
	if s.data[s.pos] == closing {
		s.pos++
		return false, nil
	}
	if n > 0 {
		if s.data[s.pos] != ',' {
			return false, s.want(fmt.Sprintf("',' or '%c'", closing))
		}
		s.pos++
		s.ws()
	}
	return true, nil
}

// skip reads and checks a value of any type.
func (s *w2jScanner) skip() error {
	s.ws()
	if s.pos >= len(s.data) {
		return s.errEnd()
	}
	switch c := s.data[s.pos]; {
	case c == '"':
		_, _, err := s.str()
		return err
	case c == '-' || c >= '0' && c <= '9':
		_, err := s.number()
		return err
	case c == '{' || c == '[':
		return s.skipNested(c)
	case s.literal("null"), s.literal("true"), s.literal("false"):
		return nil
	default:
		return s.errf("unexpected %q at the start of a value", c)
	}
}

// skipNested reads and checks an object or array.
func (s *w2jScanner) skipNested(c byte) error {
	if err := s.open(c); err != nil {
		return err
	}
	closing := byte(']')
	if c == '{' {
		closing = '}'
	}
	for n := 0; ; n++ {
		more, err := s.next(closing, n)
		if err != nil || !more {
			s.depth--
			return err
		}
		if c == '{' {
			if _, err := s.key(); err != nil {
				return err
			}
		}
		if err := s.skip(); err != nil {
			return err
		}
	}
}

// str reads a string at s.pos (a '"'). It returns the bytes between the
// quotes and whether they are the value as they are (no escapes, valid
// UTF-8), after checking what encoding/json checks: escapes, no control
// characters.
func (s *w2jScanner) str() (raw []byte, plain bool, err error) {
	data := s.data
	start := s.pos + 1
	plain = true
	for i := start; i < len(data); {
		c := data[i]
		if c < utf8.RuneSelf {
			if !w2jSpecial[c] {
				i++
				continue
			}
			switch {
			case c == '"':
				s.pos = i + 1
				return data[start:i], plain, nil
			case c == '\\':
				n, err := jsonstr.EscapeLen(data[i:])
				if err != nil {
					s.pos = i
					return nil, false, s.errf("%w", err)
				}
				plain = false
				i += n
			default:
				s.pos = i
				return nil, false, s.errf("control character %q in a string", c)
			}
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			plain = false // encoding/json replaces invalid UTF-8 with U+FFFD
		}
		i += size
	}
	s.pos = len(data)
	return nil, false, s.errEnd()
}

// w2jSpecial marks the ASCII bytes a string scan stops at.
var w2jSpecial = func() (t [utf8.RuneSelf]bool) {
	for c := 0; c < ' '; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// appendUnescaped appends the value of a string's raw bytes (checked by
// str, so no escape fails) to dst, as encoding/json decodes them.
func appendUnescaped(dst, raw []byte) []byte {
	dst, _ = jsonstr.Append(dst, raw, jsonstr.ReplaceInvalid)
	return dst
}

// number reads a number at s.pos and returns its text.
func (s *w2jScanner) number() ([]byte, error) {
	data, start := s.data, s.pos
	i := start
	digits := func() int {
		j := i
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		return i - j
	}
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case digits() == 0:
		s.pos = i
		return nil, s.want("a digit")
	}
	if i < len(data) && data[i] == '.' {
		i++
		if digits() == 0 {
			s.pos = i
			return nil, s.want("a digit after the decimal point")
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if digits() == 0 {
			s.pos = i
			return nil, s.want("a digit in the exponent")
		}
	}
	s.pos = i
	return data[start:i], nil
}

// literal reads word (null, true, false) if it comes next.
func (s *w2jScanner) literal(word string) bool {
	if len(s.data)-s.pos >= len(word) && string(s.data[s.pos:s.pos+len(word)]) == word {
		s.pos += len(word)
		return true
	}
	return false
}

// ws skips white space.
func (s *w2jScanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *w2jScanner) errf(format string, args ...any) error {
	return fmt.Errorf("byte %d of %d: %w", s.pos, len(s.data), fmt.Errorf(format, args...))
}

func (s *w2jScanner) want(what string) error {
	if s.pos >= len(s.data) {
		return s.errEnd()
	}
	return s.errf("want %s, found %q", what, s.data[s.pos])
}

func (s *w2jScanner) errEnd() error {
	return fmt.Errorf("the record ends early (%d bytes): not valid JSON", len(s.data))
}
