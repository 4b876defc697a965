package decode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
	"github.com/pg2s3/pg2s3/shared/postgres/logical/internal/eventtest"
)

// The scanner must read every record exactly as the encoding/json decoder
// it replaced (refWal2jsonDecoder) does: the same events, and an error
// for the same records. These tests run both on the records the test
// server printed and on many generated ones.

// w2jPair runs the scanner decoder and the reference side by side.
type w2jPair struct {
	a, refA *Assembler
	dec     *wal2jsonDecoder
	ref     *refWal2jsonDecoder
}

func newW2JPair(sel map[[2]string]bool, lookup columnLookup) *w2jPair {
	p := &w2jPair{a: NewAssembler(sel), refA: NewAssembler(sel)}
	p.dec, p.ref = newWal2jsonDecoder(p.a, lookup), newRefWal2jsonDecoder(p.refA, lookup)
	return p
}

// check decodes msg with both and reports how they differ ("" when not),
// and the scanner's error.
func (p *w2jPair) check(walStart uint64, msg []byte) (string, error) {
	ctx := context.Background()
	err := p.dec.Decode(ctx, walStart, msg)
	refErr := p.ref.Decode(ctx, walStart, msg)
	defer func() {
		clear(p.a.out)
		clear(p.refA.out)
		p.a.out, p.refA.out = p.a.out[:0], p.refA.out[:0]
	}()
	switch {
	case (err == nil) != (refErr == nil):
		return fmt.Sprintf("scanner error %v, encoding/json error %v", err, refErr), err
	case err != nil && !lsnInError.MatchString(err.Error()):
		return fmt.Sprintf("error names no LSN or is not a wal2json error: %v", err), err
	case len(p.a.out) != len(p.refA.out):
		return fmt.Sprintf("scanner gave %d events, encoding/json %d", len(p.a.out), len(p.refA.out)), err
	}
	for i := range p.a.out {
		if !reflect.DeepEqual(p.a.out[i], p.refA.out[i]) {
			return fmt.Sprintf("event %d:\n scanner       %s\n encoding/json %s", i, eventtest.Event(p.a.out[i]), eventtest.Event(p.refA.out[i])), err
		}
	}
	return "", err
}

// lsnInError matches an error that says where in the log it happened.
var lsnInError = regexp.MustCompile(`^decode wal2json .* at [0-9A-F]+/[0-9A-F]+:`)

func TestWal2jsonScannerMatchesEncodingJSON(t *testing.T) {
	t.Run("captured", func(t *testing.T) {
		msgs := w2jMessages(t)
		p := newW2JPair(nil, w2jCatalog(t, msgs))
		changes := 0
		for i, m := range msgs {
			if diff, _ := p.check(uint64(i+1), m); diff != "" {
				t.Fatalf("record %d %.200s: %s", i, m, diff)
			}
			if p.dec.scan.rec.columns != nil {
				changes++
			}
		}
		if changes < 30 {
			t.Errorf("only %d captured changes", changes)
		}
	})
	t.Run("generated", func(t *testing.T) {
		g := newW2JGen(1)
		p := newW2JPair(w2jGenSelection, g.lookup)
		ok, failed := 0, 0
		for i := range 30000 {
			msg := g.record()
			if i%8 == 7 {
				msg = g.corrupt(msg)
			}
			diff, err := p.check(uint64(i+1)<<8, msg)
			if diff != "" {
				t.Fatalf("record %d %q: %s", i, msg, diff)
			}
			if err == nil {
				ok++
			} else {
				failed++
			}
		}
		// Both outcomes must be well represented, or the test proves little.
		if ok < 15000 || failed < 3000 {
			t.Errorf("%d records decoded, %d failed", ok, failed)
		}
	})
}

// FuzzWal2jsonDecode compares the scanner with encoding/json on any input
// (go test -fuzz FuzzWal2jsonDecode ./shared/postgres/logical/internal/decode/). Inputs whose keys
// encoding/json matches by case folding, or that repeat a key or a column
// name, are skipped: the scanner reads keys as wal2json prints them.
func FuzzWal2jsonDecode(f *testing.F) {
	for _, m := range w2jMessages(f) {
		if len(m) < 2000 {
			f.Add(m)
		}
	}
	g := newW2JGen(2)
	for range 50 {
		f.Add(g.record())
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		if !w2jComparable(msg) {
			t.Skip()
		}
		g := newW2JGen(3)
		p := newW2JPair(w2jGenSelection, g.lookup)
		if diff, _ := p.check(0x1234_5678_9ABC, msg); diff != "" {
			t.Fatal(diff)
		}
		if diff, _ := p.check(0x1234_5678_9ABC, msg); diff != "" { // again, with the tables known
			t.Fatal(diff)
		}
	})
}

// w2jComparable reports whether encoding/json reads msg as the scanner
// does by design: keys exactly as named (not matched by case folding),
// no repeated key in an object, no repeated column name in a list.
func w2jComparable(msg []byte) bool {
	known := []string{"action", "xid", "timestamp", "lsn", "nextlsn", "schema", "table", "columns", "identity",
		"transactional", "prefix", "content", "name", "typeoid", "value"}
	dec := json.NewDecoder(bytes.NewReader(msg))
	type frame struct {
		object bool
		keys   map[string]bool
	}
	var stack []frame
	expectKey := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return true // the end, or invalid JSON: both must fail
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, frame{object: true, keys: map[string]bool{}})
				expectKey = true
				continue
			case '[':
				stack = append(stack, frame{})
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if expectKey {
				top := stack[len(stack)-1]
				if top.keys[v] {
					return false
				}
				top.keys[v] = true
				for _, k := range known {
					if v != k && strings.EqualFold(v, k) {
						return false
					}
				}
				expectKey = false
				continue
			}
		}
		expectKey = len(stack) > 0 && stack[len(stack)-1].object
	}
}

func TestWal2jsonComparableFilter(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want bool
	}{
		{`{"action":"I","columns":[{"name":"a"},{"name":"b"}]}`, true},
		{`{"Action":"I"}`, false},
		{`{"action":"I","action":"U"}`, false},
		{`{"columns":[{"name":"a","Value":1}]}`, false},
		{"{\"\u017fchema\":\"x\"}", false}, // ſ folds to s
		{`{"x":{"a":1},"y":{"a":2}}`, true},
		{`{"action":`, true},
	} {
		if got := w2jComparable([]byte(tc.msg)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.msg, got, tc.want)
		}
	}
}

// TestWal2jsonStringsMatchEncodingJSON compares string decoding alone on
// many generated strings, valid or not.
func TestWal2jsonStringsMatchEncodingJSON(t *testing.T) {
	g := newW2JGen(4)
	for i := range 100000 {
		var raw []byte
		if i%4 == 0 {
			raw = g.junkString()
		} else {
			raw = g.quote(g.text())
		}
		var want string
		wantErr := json.Unmarshal(raw, &want)
		s := w2jScanner{data: raw}
		var got []byte
		var err error
		if len(raw) == 0 || raw[0] != '"' {
			err = errors.New("not a string")
		} else {
			var body []byte
			var plain bool
			if body, plain, err = s.str(); err == nil {
				if s.ws(); s.pos != len(raw) {
					err = errors.New("trailing bytes")
				}
				got = s.decoded(body, plain)
			}
		}
		if (err == nil) != (wantErr == nil) || err == nil && string(got) != want {
			t.Fatalf("%q: scanner %q %v, encoding/json %q %v", raw, got, err, want, wantErr)
		}
	}
}

// TestWal2jsonNumbersMatchEncodingJSON compares number reading alone.
func TestWal2jsonNumbersMatchEncodingJSON(t *testing.T) {
	g := newW2JGen(5)
	alphabet := "0123456789-+.eE"
	for i := range 100000 {
		var raw []byte
		if i%2 == 0 {
			raw = g.number()
		} else {
			for range 1 + g.r.IntN(8) {
				raw = append(raw, alphabet[g.r.IntN(len(alphabet))])
			}
		}
		s := w2jScanner{data: raw}
		got, err := s.number()
		ok := err == nil && s.pos == len(raw)
		if ok != json.Valid(raw) || ok && !bytes.Equal(got, raw) {
			t.Fatalf("%q: scanner %q %v, json.Valid %v", raw, got, err, json.Valid(raw))
		}
	}
}

// TestWal2jsonMalformed checks that broken records fail with an error
// naming the position, never a panic, and that nesting is limited as
// encoding/json limits it.
func TestWal2jsonMalformed(t *testing.T) {
	good := `{"action":"I","xid":1,"lsn":"0/10","schema":"public","table":"t1","columns":[{"name":"id","typeoid":23,"value":1}]}`
	g := newW2JGen(6)
	p := newW2JPair(w2jGenSelection, g.lookup)
	if diff, err := p.check(16, []byte(good)); diff != "" || err != nil {
		t.Fatal(diff, err)
	}
	for _, msg := range []string{
		"", " ", "null", "[]", `"x"`, "{", `{"action"`, `{"action":}`, `{"action":"I"`, good[:len(good)-1], good + "}", good + " x",
		`{"action":"I",}`, `{,"action":"I"}`, `{"action":"B","xid":-1,"lsn":"0/1"}`, `{"action":"B","xid":4294967296,"lsn":"0/1"}`,
		`{"action":"B","xid":1.5,"lsn":"0/1"}`, `{"action":"B","xid":"1","lsn":"0/1"}`, `{"action":"B","lsn":"0/1","timestamp":"yesterday"}`,
		`{"action":"B","lsn":"nowhere"}`, `{"action":"Q","lsn":"0/1"}`, `{"action":"M","lsn":"0/1","transactional":1}`,
		`{"action":"I","lsn":"0/1","schema":"public","table":"t1","columns":[{"name":"id","value":01}]}`,
		`{"action":"I","lsn":"0/1","schema":"public","table":"t1","columns":[{"name":"id","value":[1]}]}`,
		`{"action":"I","lsn":"0/1","schema":"public","table":"t1","columns":[{"name":"id","value":"\x"}]}`,
		`{"action":"I","lsn":"0/1","schema":"public","table":"t1","columns":[{"name":"id","value":"\u12"}]}`,
		"{\"action\":\"I\",\"lsn\":\"0/1\",\"schema\":\"public\",\"table\":\"t1\",\"columns\":[{\"name\":\"id\",\"value\":\"a\tb\"}]}",
		`{"action":"I","lsn":"0/1","schema":"public","table":"t1","columns":{"name":"id"}}`,
		`{"action":"I","lsn":"0/1","schema":"public","table":"t1","columns":[1]}`,
		`{"action":"I","lsn":"0/1","schema":"public","table":"broken","columns":[{"name":"id","value":1}]}`,
		`{"x":` + strings.Repeat("[", w2jMaxDepth-1) + strings.Repeat("]", w2jMaxDepth-1) + `,"action":"B","lsn":"0/1"}`,
		`{"x":` + strings.Repeat("[", w2jMaxDepth) + strings.Repeat("]", w2jMaxDepth) + `,"action":"B","lsn":"0/1"}`,
	} {
		diff, err := p.check(0xAB_0000_0010, []byte(msg))
		if diff != "" {
			t.Errorf("%.80s: %s", msg, diff)
		}
		if strings.Contains(msg, "[[[") {
			if nested := strings.Count(msg, "[") >= w2jMaxDepth; (err != nil) != nested {
				t.Errorf("%d levels: %v", strings.Count(msg, "[")+1, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%.80s: no error", msg)
		} else if !strings.Contains(err.Error(), "at AB/10: ") && !strings.Contains(err.Error(), "at 0/1: ") {
			t.Errorf("%.80s: error without the LSN: %v", msg, err)
		}
	}
}

// TestWal2jsonTimestamps compares the allocation-free timestamp parser
// with time.Parse (parseW2JTime) on generated and odd timestamps.
func TestWal2jsonTimestamps(t *testing.T) {
	g := newW2JGen(7)
	odd := []string{"", "2024-01-02 03:04:05+00", "2024-02-30 00:00:00+00", "2023-02-29 00:00:00+00", "2024-02-29 24:00:00+00",
		"2024-01-02 03:04:60+00", "2024-01-02 03:04:05.+00", "2024-01-02 03:04:05.1234567891+00", "2024-01-02 3:04:05+00",
		"2024-01-02 03:04:05+24", "2024-01-02 03:04:05+05:60", "2024-01-02 03:04:05+05:30:59", "0000-01-01 00:00:00+00",
		"2024-01-02 03:04:05 BC+00", "2024-01-02 03:04:05+0530", "2024-01-02T03:04:05+00", "+123-01-02 03:04:05+00"}
	for i := range 20000 {
		s := g.timestamp()
		if i < len(odd) {
			s = odd[i]
		}
		got, err := parseW2JTimeBytes([]byte(s))
		want, wantErr := parseW2JTime(s)
		if got != want || (err == nil) != (wantErr == nil) {
			t.Fatalf("%q: %d %v, time.Parse %d %v", s, got, err, want, wantErr)
		}
	}
}

func TestWal2jsonLSN(t *testing.T) {
	for _, s := range []string{"", "0/0", "16/B374D848", "16/b374d848", "FFFFFFFF/FFFFFFFF", "123456789/1", "0/1 x", "x/1", "/1", "1/", "1", "1/2/3"} {
		got, err := parseLSNBytes([]byte(s))
		want, wantErr := pg.ParseLSN(s)
		if got != want || (err == nil) != (wantErr == nil) {
			t.Errorf("%q: %d %v, parseLSN %d %v", s, got, err, want, wantErr)
		}
	}
}

// w2jGen generates wal2json records: mostly as wal2json prints them, with
// every kind of value and string escape, odd spacing, unknown keys, and
// the occasional wrong type or broken byte.
type w2jGen struct {
	r *rand.Rand
	b []byte
}

func newW2JGen(seed uint64) *w2jGen { return &w2jGen{r: rand.New(rand.NewPCG(seed, 42))} }

// w2jGenTables are the generated records' tables.
var w2jGenTables = []struct {
	schema, table string
	columns       []string
	generated     []string
}{
	{"public", "t1", []string{"id", `a"b`, "é 🙂", "n", "s\\t", "j"}, nil},
	{"public", "gen", []string{"id", "v"}, []string{"g"}},
	{"My Schema", `Odd "Name".x`, []string{"k"}, nil},
	{"public", "other", []string{"id"}, nil},
	{"public", "broken", []string{"id"}, nil}, // its lookup fails
}

var w2jGenSelection = map[[2]string]bool{{"public", "t1"}: true, {"public", "gen"}: true, {"My Schema", `Odd "Name".x`}: true, {"public", "broken"}: true}

func (g *w2jGen) lookup(_ context.Context, schema, table string) (w2jTable, error) {
	for _, tb := range w2jGenTables {
		if tb.schema == schema && tb.table == table {
			if table == "broken" {
				return w2jTable{}, errors.New("no such table")
			}
			t := w2jTable{columns: append([]string(nil), tb.columns...), generated: map[string]bool{}}
			for _, c := range tb.generated {
				t.generated[c] = true
			}
			return t, nil
		}
	}
	return w2jTable{generated: map[string]bool{}}, nil
}

func (g *w2jGen) chance(n int) bool { return g.r.IntN(n) == 0 }

// ws writes white space now and then.
func (g *w2jGen) ws() {
	if g.chance(10) {
		for range 1 + g.r.IntN(3) {
			g.b = append(g.b, " \t\n\r"[g.r.IntN(4)])
		}
	}
}

func (g *w2jGen) key(k string) {
	g.ws()
	g.b = append(g.b, g.quote(k)...)
	g.ws()
	g.b = append(g.b, ':')
	g.ws()
}

// record generates one record.
func (g *w2jGen) record() []byte {
	g.b = g.b[:0]
	actions := "BCIIIIUUUDDTM"
	action := string(actions[g.r.IntN(len(actions))])
	if g.chance(200) {
		action = []string{"X", "", "BB", "i"}[g.r.IntN(4)]
	}
	tb := w2jGenTables[g.r.IntN(len(w2jGenTables))]
	type member struct {
		key   string
		write func()
	}
	members := []member{
		{"action", func() { g.stringOrNull(action) }},
		{"xid", func() { g.xid() }},
		{"timestamp", func() { g.stringOrNull(g.timestamp()) }},
		{"lsn", func() { g.stringOrNull(g.lsn()) }},
	}
	switch action {
	case "B", "C":
		members = append(members, member{"nextlsn", func() { g.stringOrNull(g.lsn()) }})
	case "I", "U", "D", "T":
		members = append(members, member{"schema", func() { g.stringOrNull(tb.schema) }}, member{"table", func() { g.stringOrNull(tb.table) }})
		cols := append(append([]string(nil), tb.columns...), tb.generated...)
		if action == "I" || action == "U" {
			members = append(members, member{"columns", func() { g.fields(cols, action == "U") }})
		}
		if action == "D" || action == "U" && g.chance(3) {
			members = append(members, member{"identity", func() { g.fields(cols, true) }})
		}
	case "M":
		members = append(members, member{"transactional", func() { g.boolOrNull() }},
			member{"prefix", func() { g.stringOrNull(g.text()) }}, member{"content", func() { g.stringOrNull(g.text()) }})
	}
	if g.chance(10) {
		members = append(members, member{"extra" + strconv.Itoa(g.r.IntN(3)), func() { g.anyValue(3) }})
	}
	if g.chance(4) {
		g.r.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
	}
	g.ws()
	g.b = append(g.b, '{')
	for i, m := range members {
		if i > 0 {
			g.ws()
			g.b = append(g.b, ',')
		}
		g.key(m.key)
		m.write()
	}
	g.ws()
	g.b = append(g.b, '}')
	g.ws()
	return bytes.Clone(g.b)
}

// fields writes a columns or identity list: the columns in order, some
// left out when partial (unchanged TOAST values, key-only identities),
// now and then an unknown column or a null element.
func (g *w2jGen) fields(cols []string, partial bool) {
	if g.chance(100) {
		g.b = append(g.b, "null"...)
		return
	}
	g.b = append(g.b, '[')
	n := 0
	for _, c := range cols {
		if partial && g.chance(3) {
			continue
		}
		if n > 0 {
			g.b = append(g.b, ',')
		}
		n++
		if g.chance(300) {
			g.b = append(g.b, "null"...)
			continue
		}
		name := c
		if g.chance(60) {
			name = "new_" + c
		}
		g.field(name)
	}
	g.b = append(g.b, ']')
}

func (g *w2jGen) field(name string) {
	type member struct {
		key   string
		write func()
	}
	oids := []uint32{16, 17, 20, 23, 25, 114, 700, 701, 1009, 1184, 1700, 3802}
	oid := oids[g.r.IntN(len(oids))]
	members := []member{
		{"name", func() { g.stringOrNull(name) }},
		{"typeoid", func() { g.b = strconv.AppendUint(g.b, uint64(oid), 10) }},
		{"value", func() { g.value(oid) }},
	}
	if g.chance(30) {
		members = members[:2] // no value
	}
	if g.chance(30) {
		members = append(members, member{"type", func() { g.stringOrNull("text") }})
	}
	if g.chance(10) {
		g.r.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
	}
	g.b = append(g.b, '{')
	for i, m := range members {
		if i > 0 {
			g.ws()
			g.b = append(g.b, ',')
		}
		g.key(m.key)
		m.write()
	}
	g.b = append(g.b, '}')
}

// value writes a column value of the type, as wal2json would, or now and
// then something else.
func (g *w2jGen) value(oid uint32) {
	switch {
	case g.chance(8):
		g.b = append(g.b, "null"...)
		return
	case g.chance(200):
		g.anyValue(3) // an object or array, which is an error when used
		return
	}
	switch oid {
	case 16:
		g.b = append(g.b, []string{"true", "false"}[g.r.IntN(2)]...)
	case 20, 23, 700, 701, 1700:
		g.b = append(g.b, g.number()...)
	case 114, 3802:
		doc, _ := json.Marshal(g.document(3))
		g.b = append(g.b, g.quote(string(doc))...)
	case 17:
		g.b = append(g.b, g.quote(fmt.Sprintf("%x", g.text()))...)
	default:
		g.b = append(g.b, g.quote(g.text())...)
	}
}

// anyValue writes any JSON value, nested up to depth.
func (g *w2jGen) anyValue(depth int) {
	doc, _ := json.Marshal(g.document(depth))
	g.b = append(g.b, doc...)
}

func (g *w2jGen) document(depth int) any {
	switch k := g.r.IntN(7); {
	case depth > 0 && k == 0:
		m := map[string]any{}
		for range g.r.IntN(4) {
			m[g.text()] = g.document(depth - 1)
		}
		return m
	case depth > 0 && k == 1:
		var a []any
		for range g.r.IntN(4) {
			a = append(a, g.document(depth-1))
		}
		return a
	case k == 2:
		return json.Number(g.number())
	case k == 3:
		return nil
	case k == 4:
		return g.chance(2)
	}
	return g.text()
}

func (g *w2jGen) stringOrNull(s string) {
	if g.chance(100) {
		g.b = append(g.b, "null"...)
		return
	}
	g.b = append(g.b, g.quote(s)...)
}

func (g *w2jGen) boolOrNull() {
	g.b = append(g.b, []string{"true", "false", "null"}[g.r.IntN(3)]...)
}

func (g *w2jGen) xid() {
	switch g.r.IntN(40) {
	case 0:
		g.b = append(g.b, "null"...)
	case 1:
		g.b = append(g.b, []string{"-1", "4294967296", "1.5", "1e3", `"7"`, "true", "4294967295", "0"}[g.r.IntN(8)]...)
	default:
		g.b = strconv.AppendUint(g.b, uint64(g.r.Uint32()), 10)
	}
}

func (g *w2jGen) lsn() string {
	switch g.r.IntN(50) {
	case 0:
		return ""
	case 1:
		return []string{"0/1 x", "x/1", "123456789/0", "1/2/3", "16/b374d848", "/"}[g.r.IntN(6)]
	}
	return fmt.Sprintf("%X/%X", g.r.Uint32N(1<<8), g.r.Uint32())
}

// timestamp generates timestamps as wal2json prints commit times, in
// every offset form, and now and then a broken one.
func (g *w2jGen) timestamp() string {
	if g.chance(100) {
		return []string{"", "yesterday", "2024-13-01 00:00:00+00", "2024-01-01 00:00:00", "2024-01-01 25:00:00+00"}[g.r.IntN(5)]
	}
	t := time.Unix(g.r.Int64N(1<<34)-1<<33, 0).UTC()
	s := t.Format("2006-01-02 15:04:05")
	if n := g.r.IntN(10); n > 0 {
		s += "." + fmt.Sprintf("%09d", g.r.IntN(1e9))[:n]
	}
	switch g.r.IntN(5) {
	case 0:
		return s + fmt.Sprintf("-%02d", g.r.IntN(16))
	case 1:
		return s + fmt.Sprintf("+%02d:%02d", g.r.IntN(16), g.r.IntN(60))
	case 2:
		return s + fmt.Sprintf("-%02d:%02d:%02d", g.r.IntN(26), g.r.IntN(62), g.r.IntN(62))
	}
	return s + "+00"
}

// number generates a valid JSON number.
func (g *w2jGen) number() []byte {
	var b []byte
	if g.chance(3) {
		b = append(b, '-')
	}
	if g.chance(4) {
		b = append(b, '0')
	} else {
		b = append(b, byte('1'+g.r.IntN(9)))
		for range g.r.IntN(g.r.IntN(40) + 1) {
			b = append(b, byte('0'+g.r.IntN(10)))
		}
	}
	if g.chance(2) {
		b = append(b, '.')
		for range 1 + g.r.IntN(12) {
			b = append(b, byte('0'+g.r.IntN(10)))
		}
	}
	if g.chance(5) {
		b = append(b, "eE"[g.r.IntN(2)])
		if g.chance(2) {
			b = append(b, "+-"[g.r.IntN(2)])
		}
		for range 1 + g.r.IntN(3) {
			b = append(b, byte('0'+g.r.IntN(10)))
		}
	}
	return b
}

// text generates a string with quotes, backslashes, control characters,
// line separators, accents, emoji and, now and then, invalid UTF-8.
func (g *w2jGen) text() string {
	pieces := []string{"a", "Z", " ", "0", `"`, `\`, "/", "\n", "\t", "\x00", "\x01", "\x1f", "\x7f", "é", "日本", "🙂",
		"\u2028", "\ufffd", "{", "}", "[", "]", ",", ":", "NULL", "\\u0041", "x y"}
	var b strings.Builder
	for range g.r.IntN(g.r.IntN(30) + 1) {
		if g.chance(100) {
			b.WriteString([]string{"\xff", "\xc3", "\xed\xa0\x80", "\xf0\x9f"}[g.r.IntN(4)])
			continue
		}
		b.WriteString(pieces[g.r.IntN(len(pieces))])
	}
	return b.String()
}

// quote writes s as a JSON string, choosing among the escapes JSON
// allows: \uXXXX in either case (surrogate pairs beyond U+FFFF), \/,
// short escapes, or the character itself where that is allowed. Now and
// then it adds a lone surrogate.
func (g *w2jGen) quote(s string) []byte {
	b := []byte{'"'}
	hex := "0123456789abcdef"
	if g.chance(2) {
		hex = "0123456789ABCDEF"
	}
	u := func(r rune) {
		b = append(b, '\\', 'u', hex[r>>12&15], hex[r>>8&15], hex[r>>4&15], hex[r&15])
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		raw := s[i : i+size]
		i += size
		escape := g.chance(6)
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, raw...) // invalid UTF-8 as is
		case r == '"' || r == '\\' || r < ' ' || escape:
			short := map[rune]string{'"': `\"`, '\\': `\\`, '/': `\/`, '\b': `\b`, '\f': `\f`, '\n': `\n`, '\r': `\r`, '\t': `\t`}
			switch {
			case short[r] != "" && !g.chance(3):
				b = append(b, short[r]...)
			case r > 0xffff:
				r1, r2 := utf16Pair(r)
				u(r1)
				u(r2)
			default:
				u(r)
			}
		default:
			b = append(b, raw...)
		}
		if g.chance(300) {
			u(rune(0xd800 + g.r.IntN(0x800))) // a lone or misordered surrogate
		}
	}
	return append(b, '"')
}

func utf16Pair(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + r>>10&0x3ff, 0xdc00 + r&0x3ff
}

// junkString generates a quoted string that may be invalid: a broken
// escape, a raw control character, a missing quote.
func (g *w2jGen) junkString() []byte {
	b := g.quote(g.text())
	junk := []string{`\`, `\x`, `\u`, `\u12`, `\u12g4`, `\U0041`, "\x01", `"`, "\n", `\'`, "\xff", `\ud800\u`, `\uD83D\uDE42`}
	i := 1 + g.r.IntN(len(b)-1)
	b = append(b[:i:i], append([]byte(junk[g.r.IntN(len(junk))]), b[i:]...)...)
	if g.chance(5) {
		b = b[:len(b)-1]
	}
	return b
}

// corrupt breaks a record: cuts it, drops a byte or adds a structural or
// invalid one (never a letter, which could turn a key into another).
func (g *w2jGen) corrupt(msg []byte) []byte {
	if len(msg) == 0 {
		return msg
	}
	i := g.r.IntN(len(msg))
	switch g.r.IntN(3) {
	case 0:
		return msg[:i]
	case 1:
		return append(msg[:i:i], msg[i+1:]...)
	}
	add := []byte("{}[]\":,\\ \x00\x01\xff-0.e")
	return append(msg[:i:i], append([]byte{add[g.r.IntN(len(add))]}, msg[i:]...)...)
}
