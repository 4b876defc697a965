package encode

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/pg2s3/pg2s3/shared/jsonstr"
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
// included) to dst. Bytes that are not UTF-8 pass through: the encoder
// wrote them so.
func appendUnquoted(dst, q []byte) ([]byte, error) {
	if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
		return dst, fmt.Errorf("%.40q is not a JSON string", q)
	}
	dst, err := jsonstr.Append(dst, q[1:len(q)-1], jsonstr.KeepInvalid)
	var bad *jsonstr.EscapeError
	if errors.As(err, &bad) {
		switch bad.Problem {
		case jsonstr.Truncated:
			err = errors.New("a string ends in a backslash")
		case jsonstr.BadUnicode:
			err = errors.New("bad \\u escape in a string")
		default:
			err = fmt.Errorf("bad escape \\%c in a string", bad.Escape[1])
		}
	}
	return dst, err
}
