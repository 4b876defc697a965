package encode

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// memberScanner walks the top-level members of one JSON object (a line of
// the output contract) without decoding their values: each member is its
// key as written (escapes kept) and its value's raw text.
type memberScanner struct {
	b []byte
	i int
}

func newMemberScanner(line []byte) (*memberScanner, error) {
	s := &memberScanner{b: line}
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return nil, errors.New("a row is not a JSON object")
	}
	s.i++
	return s, nil
}

// next returns the next member; ok is false after the closing brace.
func (s *memberScanner) next() (key, val []byte, ok bool, err error) {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == ',' {
		s.i++
		s.space()
	}
	if s.i >= len(s.b) {
		return nil, nil, false, errors.New("a row ends inside its object")
	}
	if s.b[s.i] == '}' {
		s.i++
		return nil, nil, false, nil
	}
	if s.b[s.i] != '"' {
		return nil, nil, false, fmt.Errorf("unexpected %q where a field name belongs", s.b[s.i])
	}
	end, err := skipString(s.b, s.i)
	if err != nil {
		return nil, nil, false, err
	}
	key = s.b[s.i+1 : end-1]
	s.i = end
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		return nil, nil, false, fmt.Errorf("field %s has no value", key)
	}
	s.i++
	s.space()
	start := s.i
	if s.i, err = skipValue(s.b, s.i); err != nil {
		return nil, nil, false, fmt.Errorf("field %s: %w", key, err)
	}
	return key, s.b[start:s.i], true, nil
}

func (s *memberScanner) space() {
	for s.i < len(s.b) && isSpace(s.b[s.i]) {
		s.i++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipString returns the index after the string starting at b[i] ('"').
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			break
		}
		j += q
		escapes := 0 // a quote after an odd run of backslashes is escaped
		for k := j - 1; k > i && b[k] == '\\'; k-- {
			escapes++
		}
		if escapes%2 == 0 {
			return j + 1, nil
		}
		j++
	}
	return 0, errors.New("unterminated string")
}

// skipValue returns the index after the JSON value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errors.New("missing value")
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errors.New("unterminated object or array")
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && !isSpace(b[j]) {
		j++
	}
	if j == i {
		return 0, fmt.Errorf("unexpected %q where a value belongs", b[i])
	}
	return j, nil
}

// appendUnquoted appends the text of the JSON string literal q (quotes
// included) to dst.
func appendUnquoted(dst, q []byte) ([]byte, error) {
	if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
		return dst, fmt.Errorf("%.40q is not a JSON string", q)
	}
	s := q[1 : len(q)-1]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		if i++; i >= len(s) {
			return dst, errors.New("a string ends in a backslash")
		}
		switch s[i] {
		case '"', '\\', '/':
			dst = append(dst, s[i])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, n, err := unicodeEscape(s[i-1:])
			if err != nil {
				return dst, err
			}
			dst = utf8.AppendRune(dst, r)
			i += n - 2
		default:
			return dst, fmt.Errorf("bad escape \\%c in a string", s[i])
		}
	}
	return dst, nil
}

// unicodeEscape decodes \uXXXX (and a following low surrogate) at the
// start of s, returning the rune and the bytes consumed.
func unicodeEscape(s []byte) (rune, int, error) {
	r, ok := hex4(s)
	if !ok {
		return 0, 0, errors.New("bad \\u escape in a string")
	}
	if utf16.IsSurrogate(r) {
		if lo, ok := hex4(s[6:]); ok {
			if dec := utf16.DecodeRune(r, lo); dec != utf8.RuneError {
				return dec, 12, nil
			}
		}
		return utf8.RuneError, 6, nil
	}
	return r, 6, nil
}

func hex4(s []byte) (rune, bool) {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
