package encode

import (
	"fmt"
	"time"
)

// Timestamps are written as RFC 3339 in UTC with exactly six fractional
// digits: "2024-05-01T12:30:00.000000Z". Sessions run with TimeZone=UTC and
// DateStyle=ISO, so the server prints "2024-05-01 12:30:00+00"; other
// offsets are converted. Values outside RFC 3339's years 0001-9999
// (infinity, -infinity, BC dates, year 10000+) are clamped to
// 9999-12-31T23:59:59.999999Z and 0001-01-01T00:00:00.000000Z, as
// tap-postgres does, so every value stays a valid date-time.
const (
	maxTimestamp = "9999-12-31T23:59:59.999999Z"
	minTimestamp = "0001-01-01T00:00:00.000000Z"
)

func appendTimestamp(dst []byte, t []byte) ([]byte, error) {
	switch string(t) {
	case "infinity":
		return appendQuoted(dst, maxTimestamp), nil
	case "-infinity":
		return appendQuoted(dst, minTimestamp), nil
	}
	if len(t) >= 3 && string(t[len(t)-3:]) == " BC" {
		return appendQuoted(dst, minTimestamp), nil
	}
	// Fast path: "YYYY-MM-DD HH:MM:SS[.ffffff][+00]".
	if len(t) < 19 || t[4] != '-' || t[10] != ' ' {
		if bigYear(t) {
			return appendQuoted(dst, maxTimestamp), nil
		}
		return dst, fmt.Errorf("timestamp %q is not in ISO form", t)
	}
	rest := t[19:]
	var frac []byte
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		frac, rest = rest[1:i], rest[i:]
	}
	switch string(rest) {
	case "", "+00":
		dst = append(dst, '"')
		dst = append(dst, t[:10]...)
		dst = append(dst, 'T')
		dst = append(dst, t[11:19]...)
		dst = append(dst, '.')
		dst = append(dst, frac...)
		for i := len(frac); i < 6; i++ {
			dst = append(dst, '0')
		}
		return append(dst, 'Z', '"'), nil
	}
	// Another offset: parse and convert to UTC.
	layouts := []string{"2006-01-02 15:04:05.999999-07", "2006-01-02 15:04:05.999999-07:00", "2006-01-02 15:04:05.999999-07:00:00"}
	for _, l := range layouts {
		if ts, err := time.Parse(l, string(t)); err == nil {
			return appendQuoted(dst, ts.UTC().Format("2006-01-02T15:04:05.000000Z")), nil
		}
	}
	return dst, fmt.Errorf("timestamp %q is not in ISO form", t)
}

// appendDate writes a date as midnight UTC of that day.
func appendDate(dst []byte, t []byte) ([]byte, error) {
	switch {
	case string(t) == "infinity":
		return appendQuoted(dst, maxTimestamp), nil
	case string(t) == "-infinity" || (len(t) >= 3 && string(t[len(t)-3:]) == " BC"):
		return appendQuoted(dst, minTimestamp), nil
	case bigYear(t):
		return appendQuoted(dst, maxTimestamp), nil
	case len(t) != 10 || t[4] != '-' || t[7] != '-':
		return dst, fmt.Errorf("date %q is not in ISO form", t)
	}
	dst = append(dst, '"')
	dst = append(dst, t...)
	return append(dst, "T00:00:00.000000Z\""...), nil
}

func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// bigYear reports whether t starts with a year of five or more digits.
func bigYear(t []byte) bool {
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	return i > 4 && i < len(t) && t[i] == '-'
}
