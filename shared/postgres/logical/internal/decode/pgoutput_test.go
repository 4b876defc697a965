package decode

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/record"
)

// pgMsg builds pgoutput protocol version 1 messages.
type pgMsg []byte

func (m pgMsg) byte1(b byte) pgMsg     { return append(m, b) }
func (m pgMsg) int16(v int) pgMsg      { return binary.BigEndian.AppendUint16(m, uint16(v)) }
func (m pgMsg) int32(v uint32) pgMsg   { return binary.BigEndian.AppendUint32(m, v) }
func (m pgMsg) int64(v uint64) pgMsg   { return binary.BigEndian.AppendUint64(m, v) }
func (m pgMsg) cstring(s string) pgMsg { return append(append(m, s...), 0) }

// tuple appends a TupleData: nil is null, "\x00u" an unchanged TOASTed
// value, anything else text.
func (m pgMsg) tuple(vals ...*string) pgMsg {
	m = m.int16(len(vals))
	for _, v := range vals {
		switch {
		case v == nil:
			m = m.byte1('n')
		case *v == "\x00u":
			m = m.byte1('u')
		default:
			m = m.byte1('t').int32(uint32(len(*v)))
			m = append(m, *v...)
		}
	}
	return m
}

func str(s string) *string { return &s }

var toast = str("\x00u")

// pgRelation is a Relation message of relation 42, public.t (id key, a, b).
func pgRelation() []byte {
	m := pgMsg{}.byte1('R').int32(42).cstring("public").cstring("t").byte1('d').int16(3)
	for i, c := range []string{"id", "a", "b"} {
		flags := byte(0)
		if i == 0 {
			flags = 1
		}
		m = m.byte1(flags).cstring(c).int32(25).int32(0xffffffff)
	}
	return m
}

func pgBegin(final uint64) []byte {
	return pgMsg{}.byte1('B').int64(final).int64(uint64(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMicro() - 946684800000000)).int32(7)
}

func pgCommit(lsn, end uint64) []byte {
	return pgMsg{}.byte1('C').byte1(0).int64(lsn).int64(end).int64(0)
}

// TestPgoutputChanges: inserts, updates (new only, with a key tuple, with
// the whole old row supplying unchanged TOASTed values) and deletes (key
// only, whole row) decode to the changes they carry; malformed messages
// are errors that name the message, never a panic.
func TestPgoutputChanges(t *testing.T) {
	a := NewAssembler(nil)
	d := NewPgoutput(a)
	ctx := context.Background()
	msgs := [][]byte{
		pgRelation(), pgBegin(0x500),
		pgMsg{}.byte1('I').int32(42).byte1('N').tuple(str("1"), str("x"), nil),
		pgMsg{}.byte1('U').int32(42).byte1('N').tuple(str("1"), str("y"), toast),
		pgMsg{}.byte1('U').int32(42).byte1('K').tuple(str("1"), nil, nil).byte1('N').tuple(str("2"), str("z"), toast),
		pgMsg{}.byte1('U').int32(42).byte1('O').tuple(str("2"), str("z"), str("big")).byte1('N').tuple(str("2"), str("w"), toast),
		pgMsg{}.byte1('D').int32(42).byte1('K').tuple(str("2"), nil, nil),
		pgMsg{}.byte1('D').int32(42).byte1('O').tuple(str("3"), str("q"), str("r")),
		pgCommit(0x500, 0x510),
	}
	for i, m := range msgs {
		if err := d.Decode(ctx, uint64(0x400+i), m); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	var got []string
	for {
		ev, ok := a.Pop()
		if !ok {
			break
		}
		if ev.Kind != record.EventChange {
			got = append(got, ev.Kind.String())
			continue
		}
		c := ev.Change
		var vals []string
		for i, v := range c.Values {
			s := string(v.Text)
			switch {
			case v.Null:
				s = "null"
			case v.Unchanged:
				s = "unchanged"
			}
			vals = append(vals, c.Columns[i]+"="+s)
		}
		got = append(got, fmt.Sprintf("%s %s", c.Op, strings.Join(vals, ",")))
	}
	want := []string{"begin", "relation",
		"insert id=1,a=x,b=null",
		"update id=1,a=y,b=unchanged",
		"update id=2,a=z,b=unchanged",
		"update id=2,a=w,b=big",
		"delete id=2",
		"delete id=3,a=q,b=r",
		"commit"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	for name, m := range map[string][]byte{
		"short":          {'I', 0, 0},
		"unknown rel":    pgMsg{}.byte1('I').int32(7).byte1('N').tuple(str("1")),
		"no new tuple":   pgMsg{}.byte1('I').int32(42).byte1('X'),
		"cut value":      pgMsg{}.byte1('I').int32(42).byte1('N').int16(3).byte1('t').int32(100).cstring("ab"),
		"cut columns":    pgMsg{}.byte1('I').int32(42).byte1('N').int16(3).byte1('n'),
		"bad kind":       pgMsg{}.byte1('I').int32(42).byte1('N').int16(3).byte1('z'),
		"column count":   pgMsg{}.byte1('I').int32(42).byte1('N').tuple(str("1")),
		"binary value":   pgMsg{}.byte1('I').int32(42).byte1('N').int16(3).byte1('b').int32(1).byte1(1).byte1('n').byte1('n'),
		"delete, no old": pgMsg{}.byte1('D').int32(42).byte1('N').tuple(str("1"), nil, nil),
	} {
		if err := d.Decode(ctx, 0x600, m); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// BenchmarkPgoutputInsert decodes inserts of eleven text columns like
// bench case 3's mixed table (go test -bench Pgoutput ./...).
func BenchmarkPgoutputInsert(b *testing.B) {
	a := NewAssembler(nil)
	d := NewPgoutput(a)
	ctx := context.Background()
	rel := pgMsg{}.byte1('R').int32(9).cstring("public").cstring("mixed").byte1('d').int16(11)
	for i := 0; i < 11; i++ {
		rel = rel.byte1(byte(min(1, 1-i))).cstring(fmt.Sprintf("c%d", i)).int32(25).int32(0xffffffff)
	}
	if err := d.Decode(ctx, 1, rel); err != nil {
		b.Fatal(err)
	}
	if err := d.Decode(ctx, 2, pgBegin(0x900)); err != nil {
		b.Fatal(err)
	}
	ins := pgMsg{}.byte1('I').int32(9).byte1('N').tuple(str("123456"), str("42"), str("1234.56"), str("customer 123456"), nil,
		str("2024-01-01 00:01:02.5+00"), str(`{"n": 1, "kind": "k3"}`), str(`{tag1,tag2}`), str("c4ca4238-a0b9-3382-8dcc-509a6f75849b"), str("t"), str("2"))
	b.SetBytes(int64(len(ins)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := d.Decode(ctx, uint64(i), ins); err != nil {
			b.Fatal(err)
		}
		for {
			if _, ok := a.Pop(); !ok {
				break
			}
		}
	}
}

// TestPgoutputMalformedNeverPanics: every message cut short at every
// length, and with random bytes overwritten, decodes to an error or to
// events, never a panic (pglogrepl.Parse indexes past the end of a cut
// Truncate; the soak's garbled stream found it).
func TestPgoutputMalformedNeverPanics(t *testing.T) {
	ctx := context.Background()
	msgs := [][]byte{
		pgRelation(), pgBegin(0x500),
		pgMsg{}.byte1('I').int32(42).byte1('N').tuple(str("1"), str("x"), nil),
		pgMsg{}.byte1('U').int32(42).byte1('K').tuple(str("1"), nil, nil).byte1('N').tuple(str("2"), str("z"), toast),
		pgMsg{}.byte1('U').int32(42).byte1('O').tuple(str("2"), str("z"), str("big")).byte1('N').tuple(str("2"), str("w"), toast),
		pgMsg{}.byte1('D').int32(42).byte1('O').tuple(str("3"), str("q"), str("r")),
		pgMsg{}.byte1('T').int32(2).byte1(0).int32(42).int32(42),
		pgMsg{}.byte1('M').byte1(1).int64(0x500).cstring("prefix").int32(3).cstring("ab"),
		pgCommit(0x500, 0x510),
	}
	decode := func(m []byte) {
		t.Helper()
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("decoding %q panicked: %v", m, r)
			}
		}()
		d := NewPgoutput(NewAssembler(nil))
		d.Decode(ctx, 0x400, pgRelation())
		d.Decode(ctx, 0x401, pgBegin(0x500))
		d.Decode(ctx, 0x402, m)
	}
	rnd := rand.New(rand.NewSource(1))
	for _, m := range msgs {
		for n := range len(m) {
			decode(m[:n])
		}
		for range 300 {
			b := append([]byte(nil), m...)
			for range 1 + rnd.Intn(3) {
				b[rnd.Intn(len(b))] = byte(rnd.Intn(256))
			}
			decode(b[:rnd.Intn(len(b)+1)])
		}
	}
}

// TestDamagedCommitPositions: a commit whose position is not its begin's,
// or that ends before it starts, is an error, not a position a bookmark
// (and the slot) could move to. The soak met one: a garbled commit moved
// a drain's bookmark to E63B5E16/65C245AF, where the next drain waited
// for WAL that never came.
func TestDamagedCommitPositions(t *testing.T) {
	ctx := context.Background()
	for name, commit := range map[string][]byte{
		"another transaction's position": pgCommit(0x501, 0x510),
		"ends before it starts":          pgCommit(0x500, 0x4ff),
	} {
		d := NewPgoutput(NewAssembler(nil))
		for i, m := range [][]byte{pgRelation(), pgBegin(0x500), pgMsg{}.byte1('I').int32(42).byte1('N').tuple(str("1"), str("x"), nil)} {
			if err := d.Decode(ctx, uint64(0x400+i), m); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Decode(ctx, 0x510, commit); err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Errorf("%s: %v, want an error saying the stream is damaged", name, err)
		}
	}
}
