package decode

import (
	"time"

	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
)

// LSNs and commit times of wal2json records, parsed without allocating.

// parseLSNBytes parses an LSN (16/B374D848) without allocating; other
// forms go through pg.ParseLSN.
func parseLSNBytes(b []byte) (uint64, error) {
	slash := -1
	for i, c := range b {
		if c == '/' {
			slash = i
			break
		}
	}
	if slash < 1 || slash > 8 || len(b)-slash-1 < 1 || len(b)-slash-1 > 8 {
		return pg.ParseLSN(string(b))
	}
	hi, okHi := hexUint(b[:slash])
	lo, okLo := hexUint(b[slash+1:])
	if !okHi || !okLo {
		return pg.ParseLSN(string(b))
	}
	return hi<<32 | lo, nil
}

func hexUint(b []byte) (uint64, bool) {
	var n uint64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		n = n<<4 | uint64(c)
	}
	return n, true
}

// parseW2JTimeBytes parses wal2json's timestamps like parseW2JTime, the
// usual form (2024-01-02 03:04:05.123456+00, offsets +hh[:mm[:ss]])
// without allocating.
func parseW2JTimeBytes(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if us, ok := fastW2JTime(b); ok {
		return us, nil
	}
	return parseW2JTime(string(b))
}

// fastW2JTime parses "YYYY-MM-DD HH:MM:SS[.f{1,9}]±HH[:MM[:SS]]" with
// the ranges time.Parse checks; anything else is not ok.
func fastW2JTime(b []byte) (int64, bool) {
	if len(b) < 22 || b[4] != '-' || b[7] != '-' || b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	year, ok1 := digitsValue(b[0:4])
	month, ok2 := digitsValue(b[5:7])
	day, ok3 := digitsValue(b[8:10])
	hour, ok4 := digitsValue(b[11:13])
	minute, ok5 := digitsValue(b[14:16])
	sec, ok6 := digitsValue(b[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || month < 1 || month > 12 || day < 1 ||
		day > daysIn(time.Month(month), year) || hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	i, nsec := 19, 0
	if b[i] == '.' {
		j := i + 1
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		n := j - i - 1
		if n < 1 || n > 9 {
			return 0, false
		}
		nsec, _ = digitsValue(b[i+1 : j])
		for ; n < 9; n++ {
			nsec *= 10
		}
		i = j
	}
	rest := b[i:]
	if len(rest) != 3 && len(rest) != 6 && len(rest) != 9 || rest[0] != '+' && rest[0] != '-' {
		return 0, false
	}
	oh, ok := digitsValue(rest[1:3])
	if !ok || oh > 15 {
		return 0, false
	}
	offset := oh * 3600
	for k := 3; k < len(rest); k += 3 {
		v, ok := digitsValue(rest[k+1 : k+3])
		if rest[k] != ':' || !ok || v > 59 {
			return 0, false
		}
		if k == 3 {
			offset += v * 60
		} else {
			offset += v
		}
	}
	if rest[0] == '-' {
		offset = -offset
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.UnixMicro() - int64(offset)*1e6, true
}

// digitsValue parses decimal digits.
func digitsValue(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
