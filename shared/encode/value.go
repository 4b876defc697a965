// Package encode turns PostgreSQL text-form values into the JSON of the
// output contract and writes gzip JSON Lines. It is the hot path: values are
// appended straight into a reused buffer, no maps, no reflection.
package encode

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"unicode/utf8"

	"github.com/pg2s3/pg2s3/shared/record"
)

// AppendValue appends the JSON form of one text-form value of kind k (and
// dims array dimensions) to dst.
func AppendValue(dst []byte, k record.Kind, dims int, text []byte) ([]byte, error) {
	if dims > 0 {
		return appendArray(dst, k, text)
	}
	return appendScalar(dst, k, text)
}

func appendScalar(dst []byte, k record.Kind, text []byte) ([]byte, error) {
	switch k {
	case record.KindString:
		return AppendString(dst, text), nil
	case record.KindInteger:
		if !isNumber(text) {
			return dst, fmt.Errorf("integer value %q is not a number", text)
		}
		return append(dst, text...), nil
	case record.KindNumber:
		return appendNumber(dst, text)
	case record.KindBool:
		return appendBool(dst, text, 't', 'f')
	case record.KindBit1:
		return appendBool(dst, text, '1', '0')
	case record.KindJSON:
		if len(text) == 0 {
			return append(dst, "null"...), nil
		}
		return append(dst, text...), nil
	case record.KindTimestampTZ, record.KindTimestamp:
		return appendTimestamp(dst, text)
	case record.KindDate:
		return appendDate(dst, text)
	case record.KindBytea:
		return appendBytea(dst, text)
	case record.KindHstore:
		return appendHstore(dst, text)
	}
	return dst, fmt.Errorf("kind %d is not replicated", k)
}

// Special float and numeric values are written as JSON strings: JSON has
// no NaN or infinities, and null would lose them.
func appendNumber(dst []byte, text []byte) ([]byte, error) {
	switch string(text) {
	case "NaN", "Infinity", "-Infinity":
		dst = append(dst, '"')
		dst = append(dst, text...)
		return append(dst, '"'), nil
	}
	if !isNumber(text) {
		return dst, fmt.Errorf("number value %q is not a number", text)
	}
	return append(dst, text...), nil
}

// isNumber reports whether b is a JSON number (the forms PostgreSQL prints
// for integers, numerics and floats are all JSON numbers).
func isNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	start := i
	i = digits(b, i)
	if i == start || (b[start] == '0' && i-start > 1) {
		return false
	}
	if i < len(b) && b[i] == '.' {
		if i++; digits(b, i) == i {
			return false
		}
		i = digits(b, i)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits(b, i) == i {
			return false
		}
		i = digits(b, i)
	}
	return i == len(b)
}

// digits returns the index after the run of ASCII digits at b[i:].
func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

func appendBool(dst []byte, text []byte, t, f byte) ([]byte, error) {
	if len(text) == 1 {
		switch text[0] {
		case t:
			return append(dst, "true"...), nil
		case f:
			return append(dst, "false"...), nil
		}
	}
	return dst, fmt.Errorf("boolean value %q is not %c or %c", text, t, f)
}

// appendBytea converts the hex text form (\x0a1b...) to a base64 string.
func appendBytea(dst []byte, text []byte) ([]byte, error) {
	if len(text) < 2 || text[0] != '\\' || text[1] != 'x' {
		return dst, fmt.Errorf("bytea value is not in hex form (set bytea_output = hex)")
	}
	raw := make([]byte, hex.DecodedLen(len(text)-2))
	if _, err := hex.Decode(raw, text[2:]); err != nil {
		return dst, fmt.Errorf("decode bytea: %w", err)
	}
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, raw)
	return append(dst, '"'), nil
}

const hexDigits = "0123456789abcdef"

// safe[b] is true for ASCII bytes that need no escaping in a JSON string.
var safe = func() (t [utf8.RuneSelf]bool) {
	for i := 0x20; i < utf8.RuneSelf; i++ {
		t[i] = i != '"' && i != '\\'
	}
	return
}()

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD;
// U+2028 and U+2029 are escaped so the output is safe for JavaScript too.
func AppendString(dst []byte, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight plain bytes at a time (no control character, quote,
		// backslash or byte above ASCII): most text is.
		for i+8 <= len(s) && plain8(binary.LittleEndian.Uint64(s[i:])) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		b := s[i]
		if b < utf8.RuneSelf {
			if safe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// plain8 says none of the eight bytes of x needs escaping or decoding: each
// is ASCII, not a control character, not '"' and not '\\' (the zero-byte
// tests of Hacker's Delight, exact for the bytes below 0x80 that reach them).
func plain8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	zero := func(v uint64) uint64 { return (v - ones) &^ v & highs }
	return (x|(x-ones*0x20)|zero(x^(ones*'"'))|zero(x^(ones*'\\')))&highs == 0
}
