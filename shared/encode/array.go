package encode

import (
	"bytes"
	"fmt"

	"github.com/pg2s3/pg2s3/shared/record"
)

// appendArray converts an array's text form ({1,2}, {{"a b",NULL},{c,d}},
// [0:1]={x,y}) into nested JSON arrays whose elements are converted by kind.
func appendArray(dst []byte, k record.Kind, text []byte) ([]byte, error) {
	p := arrayParser{s: text, kind: k}
	if len(text) > 0 && text[0] == '[' { // explicit bounds: skip "[l:u]...="
		i := 0
		for i < len(text) && text[i] != '=' {
			i++
		}
		p.i = i + 1
	}
	out, err := p.parse(dst)
	if err != nil {
		return dst, fmt.Errorf("array %q: %w", truncate(text), err)
	}
	if p.i != len(p.s) {
		return dst, fmt.Errorf("array %q: trailing bytes", truncate(text))
	}
	return out, nil
}

type arrayParser struct {
	s    []byte
	i    int
	kind record.Kind
	elem []byte
}

func (p *arrayParser) parse(dst []byte) ([]byte, error) {
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return dst, fmt.Errorf("expected '{' at %d", p.i)
	}
	p.i++
	dst = append(dst, '[')
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return append(dst, ']'), nil
	}
	for first := true; ; first = false {
		if !first {
			dst = append(dst, ',')
		}
		if p.i >= len(p.s) {
			return dst, fmt.Errorf("unterminated")
		}
		var err error
		switch p.s[p.i] {
		case '{':
			dst, err = p.parse(dst)
		case '"':
			dst, err = p.quoted(dst)
		default:
			dst, err = p.bare(dst)
		}
		if err != nil {
			return dst, err
		}
		if p.i >= len(p.s) {
			return dst, fmt.Errorf("unterminated")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return append(dst, ']'), nil
		default:
			return dst, fmt.Errorf("unexpected %q at %d", p.s[p.i], p.i)
		}
	}
}

func (p *arrayParser) quoted(dst []byte) ([]byte, error) {
	p.i++
	// Most elements have no escapes: the element is the text up to the
	// closing quote.
	if end := bytes.IndexAny(p.s[p.i:], `"\`); end >= 0 && p.s[p.i+end] == '"' {
		v := p.s[p.i : p.i+end]
		p.i += end + 1
		return appendScalar(dst, p.kind, v)
	}
	p.elem = p.elem[:0]
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case '\\':
			if p.i+1 >= len(p.s) {
				return dst, fmt.Errorf("dangling escape")
			}
			p.elem = append(p.elem, p.s[p.i+1])
			p.i += 2
		case '"':
			p.i++
			return appendScalar(dst, p.kind, p.elem)
		default:
			p.elem = append(p.elem, c)
			p.i++
		}
	}
	return dst, fmt.Errorf("unterminated quoted element")
}

func (p *arrayParser) bare(dst []byte) ([]byte, error) {
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != ',' && p.s[p.i] != '}' {
		p.i++
	}
	v := p.s[start:p.i]
	if string(v) == "NULL" {
		return append(dst, "null"...), nil
	}
	return appendScalar(dst, p.kind, v)
}

func truncate(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "..."
	}
	return string(b)
}
