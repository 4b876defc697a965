package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// parser reads keys of one JSON object, remembering which were used and
// collecting every problem.
type parser struct {
	raw  map[string]json.RawMessage
	used map[string]bool
	errs []error
}

func (p *parser) errf(format string, a ...any) { p.errs = append(p.errs, fmt.Errorf(format, a...)) }

func (p *parser) seen(k string) (json.RawMessage, bool) {
	if p.used == nil {
		p.used = map[string]bool{}
	}
	p.used[k] = true
	v, ok := p.raw[k]
	if ok && string(v) == "null" {
		return nil, false
	}
	return v, ok
}

func (p *parser) unknown() {
	var keys []string
	for k := range p.raw {
		if !p.used[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		p.errf("%s: unknown key (check its spelling; see the README's configuration section)", k)
	}
}

func (p *parser) str(k, def string) string {
	v, ok := p.seen(k)
	if !ok {
		return def
	}
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return s
	}
	var n json.Number
	if err := json.Unmarshal(v, &n); err == nil {
		return n.String()
	}
	p.errf("%s: expected a string", k)
	return def
}

func (p *parser) int(k string, def int) int {
	v, ok := p.seen(k)
	if !ok {
		return def
	}
	s := strings.Trim(string(v), `" `)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		p.errf("%s: expected a whole number, got %s", k, v)
		return def
	}
	return n
}

func (p *parser) boolOK(k string) (bool, bool) {
	v, ok := p.seen(k)
	if !ok {
		return false, false
	}
	switch strings.ToLower(strings.Trim(string(v), `" `)) {
	case "true", "1", "yes", "on":
		return true, true
	case "false", "0", "no", "off", "":
		return false, true
	}
	p.errf("%s: expected true or false, got %s", k, v)
	return false, false
}

func (p *parser) bool(k string, def bool) bool {
	if b, ok := p.boolOK(k); ok {
		return b
	}
	return def
}

// list accepts a JSON array of strings or a comma-separated string.
func (p *parser) list(k string) []string {
	v, ok := p.seen(k)
	if !ok {
		return nil
	}
	var arr []string
	if err := json.Unmarshal(v, &arr); err == nil {
		return arr
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		p.errf("%s: expected a comma-separated string or an array of strings", k)
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			arr = append(arr, part)
		}
	}
	return arr
}

// sub parses a nested object key with its own parser, prefixing errors.
func (p *parser) sub(k string) *parser {
	v, ok := p.seen(k)
	if !ok {
		return nil
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		p.errf("%s: expected an object", k)
		return nil
	}
	return &parser{raw: raw}
}

func (p *parser) adopt(prefix string, s *parser) {
	s.unknown()
	for _, e := range s.errs {
		p.errs = append(p.errs, fmt.Errorf("%s.%w", prefix, e))
	}
}
