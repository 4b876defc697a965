package logical

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/postgres/logical/internal/eventtest"
	"github.com/pg2s3/pg2s3/shared/record"
)

// The same workload read through pgoutput and wal2json slots must give the
// same events, change for change, value for value.
const decoderSchema = `
CREATE TABLE "Order Items" (
  id int PRIMARY KEY,
  "a""b" text,
  n numeric,
  ts timestamptz,
  j jsonb,
  js json,
  arr int[],
  tarr text[],
  b bytea,
  f float8,
  r real,
  bo boolean,
  big text,
  d date,
  iv interval,
  u uuid,
  m money,
  bits bit(3),
  i8 bigint,
  g int GENERATED ALWAYS AS (id * 2) STORED
);
ALTER TABLE "Order Items" ALTER big SET STORAGE EXTERNAL;
CREATE TABLE full_t (id int PRIMARY KEY, big text, note text);
ALTER TABLE full_t ALTER big SET STORAGE EXTERNAL;
ALTER TABLE full_t REPLICA IDENTITY FULL;
CREATE TABLE "a""b.c,d" (k text PRIMARY KEY, v int);
CREATE TABLE other (id int PRIMARY KEY);
`

var decoderWorkload = []string{
	`INSERT INTO "Order Items" (id, "a""b", n, ts, j, js, arr, tarr, b, f, r, bo, big, d, iv, u, m, bits, i8) VALUES
	 (1, E'q"uote\\back\nline\ttab é 🙂', 1234567890123456789012345678901234567890.123, '2024-01-02 03:04:05.123456+02',
	  '{"a": [1, 2.50], "b": "x\"y"}', '{"z" : 1,  "a": null}', '{1,NULL,3}', '{"a b","c,d",NULL,"q\"x"}', '\x00ff10', 0.1, 1.5, true,
	  (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 400) i), '2024-02-29', '1 day 02:03:04.5', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
	  '12.5', B'101', -9223372036854775808)`,
	`INSERT INTO "Order Items" (id) VALUES (2)`,
	`UPDATE "Order Items" SET bo = false, f = 1e300 WHERE id = 1`, // big stays: unchanged TOAST
	`UPDATE "Order Items" SET id = 3 WHERE id = 2`,
	`DELETE FROM "Order Items" WHERE id = 3`,
	`INSERT INTO other VALUES (1)`, // not selected: no events at all
	`BEGIN; INSERT INTO other VALUES (2); INSERT INTO "a""b.c,d" VALUES ('k.1', 1), ('k,2', 2); UPDATE "a""b.c,d" SET v = v + 1; COMMIT`,
	`INSERT INTO full_t VALUES (1, (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 300) i), 'a')`,
	`UPDATE full_t SET note = 'b' WHERE id = 1`, // FULL: the old row supplies big
	`DELETE FROM full_t WHERE id = 1`,           // FULL: every column
	`ALTER TABLE "Order Items" ADD COLUMN extra text`,
	`INSERT INTO "Order Items" (id, extra) VALUES (4, 'new column')`,
	`UPDATE "Order Items" SET extra = 'x' WHERE id = 1`, // big unchanged again, new column list
	`TRUNCATE "Order Items", full_t`,
}

func TestDecodersAgree(t *testing.T) {
	t.Parallel()
	cfg, conn := logDB(t, "pgoutput")
	mustExec(t, conn, decoderSchema)
	tables := [][2]string{{"public", "Order Items"}, {"public", "full_t"}, {"public", `a"b.c,d`}}
	sel := map[[2]string]bool{}
	for _, tb := range tables {
		sel[tb] = true
	}
	w2j := *cfg
	w2j.LogicalPlugin, w2j.SlotName = "wal2json", cfg.SlotName+"_w2j"
	setupSlot(t, cfg, conn, tables)
	setupSlot(t, &w2j, conn, nil)
	for _, sql := range decoderWorkload {
		mustExec(t, conn, sql)
	}
	read := func(c *config.Config, stop func(record.Event) bool) []record.Event {
		return readUntil(t, mustOpenLog(t, c, logOptions{Tables: sel}), stop)
	}
	pgo := read(cfg, untilHeartbeatCommit(t, cfg, conn))
	w := read(&w2j, untilHeartbeatCommitLSN(pgo))
	if len(pgo) != len(w) {
		t.Errorf("pgoutput gave %d events, wal2json %d", len(pgo), len(w))
	}
	for i := 0; i < len(pgo) && i < len(w); i++ {
		if !reflect.DeepEqual(pgo[i], w[i]) {
			t.Errorf("event %d differs:\npgoutput %s\nwal2json %s", i, eventtest.Event(pgo[i]), eventtest.Event(w[i]))
		}
	}
	checkWorkloadEvents(t, pgo)
}

// untilHeartbeatCommitLSN stops at the commit that ends evs (a second read
// of the same WAL).
func untilHeartbeatCommitLSN(evs []record.Event) func(record.Event) bool {
	last := evs[len(evs)-1]
	return func(e record.Event) bool { return e.Kind == record.EventCommit && e.EndLSN == last.EndLSN }
}

// checkWorkloadEvents checks what the workload must produce, whichever the
// decoder.
func checkWorkloadEvents(t *testing.T, evs []record.Event) {
	t.Helper()
	var changes []record.Change
	var relations []string
	for _, e := range evs {
		switch e.Kind {
		case record.EventChange:
			changes = append(changes, e.Change)
		case record.EventRelation:
			relations = append(relations, e.Table+":"+strings.Join(e.Columns, ","))
		}
	}
	for _, c := range changes {
		if c.Table == "other" {
			t.Errorf("unselected table in output: %s", eventtest.Change(c))
		}
		if c.CommitLSN == 0 || c.LSN == 0 || c.LSN > c.CommitLSN || c.CommitTimeMicros == 0 {
			t.Errorf("bad positions: %s", eventtest.Change(c))
		}
	}
	want := []string{
		`insert Order Items id=1 a"b=q"uote\back` + "\n" + `line	tab é 🙂 n=1234567890123456789012345678901234567890.123 ts=2024-01-02 01:04:05.123456+00 j={"a": [1, 2.50], "b": "x\"y"} js={"z" : 1,  "a": null} arr={1,NULL,3} tarr={"a b","c,d",NULL,"q\"x"} b=\x00ff10 f=0.1 r=1.5 bo=t big=<12800> d=2024-02-29 iv=P1DT2H3M4.5S u=a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11 m=$12.50 bits=101 i8=-9223372036854775808`,
		`insert Order Items id=2 a"b=NULL n=NULL ts=NULL j=NULL js=NULL arr=NULL tarr=NULL b=NULL f=NULL r=NULL bo=NULL big=NULL d=NULL iv=NULL u=NULL m=NULL bits=NULL i8=NULL`,
		`update Order Items id=1 a"b=q"uote\back` + "\n" + `line	tab é 🙂 n=1234567890123456789012345678901234567890.123 ts=2024-01-02 01:04:05.123456+00 j={"a": [1, 2.50], "b": "x\"y"} js={"z" : 1,  "a": null} arr={1,NULL,3} tarr={"a b","c,d",NULL,"q\"x"} b=\x00ff10 f=1e+300 r=1.5 bo=f big=UNCHANGED d=2024-02-29 iv=P1DT2H3M4.5S u=a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11 m=$12.50 bits=101 i8=-9223372036854775808`,
		`update Order Items id=3 a"b=NULL n=NULL ts=NULL j=NULL js=NULL arr=NULL tarr=NULL b=NULL f=NULL r=NULL bo=NULL big=NULL d=NULL iv=NULL u=NULL m=NULL bits=NULL i8=NULL`,
		`delete Order Items id=3`,
		`insert a"b.c,d k=k.1 v=1`,
		`insert a"b.c,d k=k,2 v=2`,
		`update a"b.c,d k=k.1 v=2`,
		`update a"b.c,d k=k,2 v=3`,
		`insert full_t id=1 big=<9600> note=a`,
		`update full_t id=1 big=<9600> note=b`,
		`delete full_t id=1 big=<9600> note=b`,
		`insert Order Items id=4 a"b=NULL n=NULL ts=NULL j=NULL js=NULL arr=NULL tarr=NULL b=NULL f=NULL r=NULL bo=NULL big=NULL d=NULL iv=NULL u=NULL m=NULL bits=NULL i8=NULL extra=new column`,
		`update Order Items id=1 a"b=q"uote\back` + "\n" + `line	tab é 🙂 n=1234567890123456789012345678901234567890.123 ts=2024-01-02 01:04:05.123456+00 j={"a": [1, 2.50], "b": "x\"y"} js={"z" : 1,  "a": null} arr={1,NULL,3} tarr={"a b","c,d",NULL,"q\"x"} b=\x00ff10 f=1e+300 r=1.5 bo=f big=UNCHANGED d=2024-02-29 iv=P1DT2H3M4.5S u=a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11 m=$12.50 bits=101 i8=-9223372036854775808 extra=x`,
		`truncate Order Items`,
		`truncate full_t`,
	}
	var got []string
	for _, c := range changes {
		got = append(got, eventtest.Change(c))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	cols := `id,a"b,n,ts,j,js,arr,tarr,b,f,r,bo,big,d,iv,u,m,bits,i8`
	wantRel := []string{"Order Items:" + cols, `a"b.c,d:k,v`, "full_t:id,big,note", "Order Items:" + cols + ",extra"}
	if !reflect.DeepEqual(relations, wantRel) {
		t.Errorf("relations:\n%s\nwant:\n%s", strings.Join(relations, "\n"), strings.Join(wantRel, "\n"))
	}
	// Seq counts selected changes inside each transaction.
	for i := 1; i < len(changes); i++ {
		p, c := changes[i-1], changes[i]
		if c.CommitLSN == p.CommitLSN && c.Seq != p.Seq+1 || c.CommitLSN != p.CommitLSN && c.Seq != 0 {
			t.Errorf("seq %d after %d: %s", c.Seq, p.Seq, eventtest.Change(c))
		}
	}
}
