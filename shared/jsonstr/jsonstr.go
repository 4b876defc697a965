// Package jsonstr reads the body of a JSON string (the bytes between its
// quotes): it checks each escape and decodes it. It is the one
// implementation behind the wal2json scanner (shared/postgres) and the
// Parquet writer's JSON reader (shared/encode), which differ only in what
// becomes of bytes that are not UTF-8. Escapes decode as encoding/json
// decodes them: \uXXXX pairs of surrogates join into one rune, and a
// surrogate without its pair becomes U+FFFD.
package jsonstr

import (
	"fmt"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Invalid says what Append does with bytes that are not UTF-8.
type Invalid uint8

const (
	// KeepInvalid copies them as they are.
	KeepInvalid Invalid = iota
	// ReplaceInvalid replaces each with U+FFFD, as encoding/json does.
	ReplaceInvalid
)

// Problem says what is wrong with an escape.
type Problem uint8

const (
	// Truncated: the string ends right after the backslash.
	Truncated Problem = iota + 1
	// BadUnicode: \u is not followed by four hex digits.
	BadUnicode
	// Unknown: JSON has no escape for the character after the backslash.
	Unknown
)

// An EscapeError is a backslash that does not start a valid escape.
type EscapeError struct {
	Problem Problem
	// Escape is the backslash and what follows it, up to six bytes.
	Escape []byte
}

func (e *EscapeError) Error() string {
	switch e.Problem {
	case Truncated:
		return "unterminated escape"
	case BadUnicode:
		return `\u not followed by four hex digits`
	}
	return fmt.Sprintf("invalid escape %q", e.Escape[:2])
}

// EscapeLen checks the escape at the start of b (a backslash) and returns
// its length: 6 for \uXXXX, otherwise 2.
func EscapeLen(b []byte) (int, error) {
	if len(b) < 2 {
		return 0, &EscapeError{Problem: Truncated, Escape: b}
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, nil
	case 'u':
		if len(b) < 6 || hex4(b[2:6]) < 0 {
			return 0, &EscapeError{Problem: BadUnicode, Escape: b[:min(len(b), 6)]}
		}
		return 6, nil
	}
	return 0, &EscapeError{Problem: Unknown, Escape: b[:2]}
}

// Append appends the value of body, the bytes between a JSON string's
// quotes, to dst. It fails at the first bad escape with an *EscapeError,
// having appended what came before it. It takes every other byte as it
// is (control characters too, which JSON forbids unescaped): a caller
// that must reject them checks the string first.
func Append(dst, body []byte, invalid Invalid) ([]byte, error) {
	for i := 0; i < len(body); {
		c := body[i]
		switch {
		case c == '\\':
			n, err := EscapeLen(body[i:])
			if err != nil {
				return dst, err
			}
			switch e := body[i+1]; e {
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
				var r rune
				r, n = unicodeEscape(body[i:])
				dst = utf8.AppendRune(dst, r)
			default: // " \ /
				dst = append(dst, e)
			}
			i += n
		case c >= utf8.RuneSelf && invalid == ReplaceInvalid:
			r, size := utf8.DecodeRune(body[i:])
			dst = utf8.AppendRune(dst, r)
			i += size
		default:
			j := i + 1
			for j < len(body) && body[j] != '\\' && (body[j] < utf8.RuneSelf || invalid == KeepInvalid) {
				j++
			}
			dst = append(dst, body[i:j]...)
			i = j
		}
	}
	return dst, nil
}

// unicodeEscape decodes the \uXXXX at the start of b (checked by
// EscapeLen) and, when it is a high surrogate, the low one after it. It
// returns the rune and the bytes read.
func unicodeEscape(b []byte) (rune, int) {
	r := hex4(b[2:6])
	if !utf16.IsSurrogate(r) {
		return r, 6
	}
	if next := b[6:]; len(next) >= 6 && next[0] == '\\' && next[1] == 'u' {
		if pair := utf16.DecodeRune(r, hex4(next[2:6])); pair != unicode.ReplacementChar {
			return pair, 12
		}
	}
	return unicode.ReplacementChar, 6
}

// hex4 parses four hex digits, or returns -1.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		d := hexDigit(c)
		if d < 0 {
			return -1
		}
		r = r<<4 | d
	}
	return r
}

// hexDigit is the value of the hex digit c, or -1.
func hexDigit(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return rune(c-'A') + 10
	}
	return -1
}
