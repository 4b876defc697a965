package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/awsstore/awstest"
	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/replicate"
	"github.com/pg2s3/pg2s3/shared/report"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// The DDL statements the chaos suite draws from, each in the form the
// README's "When the schema changes (DDL)" table documents.
const (
	ddlAddColumn    = "add-column"       // replicated from its first change; the stored catalog records it
	ddlDropColumn   = "drop-column"      // a selected column: the slot holds until deselected
	ddlRenameColumn = "rename-column"    // as a drop until discover selects the new name
	ddlRetype       = "retype-int"       // int -> bigint: the stream follows the new type
	ddlTruncate     = "truncate"         // a new, empty table version
	ddlAttach       = "attach-partition" // pgoutput: changes under the parent's name
	ddlDetach       = "detach-partition" // rows it takes away stay until a stream reset
	ddlRevoke       = "revoke-grant"     // the log still carries the changes; GRANT again
	ddlRenameTable  = "rename-table"     // the slot holds until deselected; a new stream
)

// TestDDLChaos interleaves seeded DML with DDL on LOG_BASED tables, drains
// (both plugins) and, after each round, checks that the current table a
// reader builds from each stream's active version equals the source table
// on the columns that exist in both and that the catalog selects; where the
// README says the slot holds, that the run says so and the slot did not
// move. DDL_ROUNDS sets the rounds per plugin, DDL_SEED replays a run.
func TestDDLChaos(t *testing.T) {
	rounds := 8
	if n, err := strconv.Atoi(os.Getenv("DDL_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	seed := time.Now().UnixNano() % 1_000_000
	if s, err := strconv.ParseInt(os.Getenv("DDL_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("DDL chaos: seed %d (DDL_SEED=%d replays it), %d rounds per variant", seed, seed, rounds)
	for _, plugin := range []string{"pgoutput", "wal2json"} {
		for _, stores := range []string{"local-jsonl", "aws-parquet"} {
			variant := plugin + "/" + stores
			t.Run(variant, func(t *testing.T) {
				var extra map[string]any
				if stores == "aws-parquet" {
					aws := awstest.Start(t, "chaos", "chaos")
					extra = aws.ConfigKeys("c")
					extra["sink"].(map[string]any)["format"] = "parquet"
				}
				c := newChaos(t, plugin, seed, extra)
				c.variant = variant
				for c.round = 1; c.round <= rounds && !t.Failed(); c.round++ {
					c.playRound()
					if c.round%50 == 0 {
						t.Logf("%s: round %d, %d rows checked so far", variant, c.round, c.checked)
					}
				}
				if stores == "local-jsonl" && !t.Failed() {
					c.checkLoader() // the README's loader over the whole output
				}
				c.printFigures(rounds)
			})
		}
	}
}

// chaosColumn is a non-key column of a source table as the suite made it.
type chaosColumn struct {
	name string
	kind string // "numeric", "text", "int", "bigint"
}

// chaosTable is the suite's model of one source table and its stream.
type chaosTable struct {
	name        string
	cols        []chaosColumn
	partitioned bool     // m: LIST partitions by region
	regions     []string // the regions of its attached partitions
	ids         []int64  // ids that may exist (updates and deletes pick from these)
	// late holds the columns selected after the active version's copy
	// (added or renamed): rows that no change touched since have no value
	// for them (README: not backfilled), so such a row may lack them, but
	// every row changed since must hold them.
	late    map[string]*lateColumn
	pending map[string]int // ids changed since the last complete drain -> the change's number
}

// lateColumn: the changes numbered above since carry the column once
// drained (ADD COLUMN: from discover on; RENAME COLUMN: from the rename on,
// the README's "changes made meanwhile carry it once selected").
type lateColumn struct {
	since   int
	carried map[string]bool
}

type chaos struct {
	t       *testing.T
	plugin  string
	variant string // plugin/stores
	seed    int64
	r       *rand.Rand
	dsn     string // superuser: the workload and the DDL
	dbname  string
	role    string // the pipeline's own role (not a superuser)
	p       *pipeline
	tables  []*chaosTable
	nextID  int64
	changes int // DML statements so far: numbers the changes
	round   int
	history []string // every statement, for a repro

	ddls       map[string]int // DDL statements applied, by kind
	statements int            // DDL statements (a kind may take two)
	holds      int
	// revokeFailures counts drains in which the revoked table's stream
	// failed (the slot held).
	revokeFailures int
	checked        int
	lost           int
	doubled        int
	wrong          int
	notBackfill    int // late-column values absent on untouched rows (a README limit)
	loaderChecked  int // rows compared through docs/loader/load-dir.sh
}

const chaosRows = 300 // rows per table at the start

func newChaos(t *testing.T, plugin string, seed int64, stores map[string]any) *chaos {
	c := &chaos{t: t, plugin: plugin, seed: seed, r: rand.New(rand.NewSource(seed)), ddls: map[string]int{}}
	schema := ""
	for _, name := range []string{"t1", "t2", "t3"} {
		schema += fmt.Sprintf(`CREATE TABLE %s (id bigint PRIMARY KEY, balance numeric(20,2) NOT NULL, note text, n int);
INSERT INTO %s SELECT g, g * 1.5, 'n' || g, g FROM generate_series(1, %d) g;
`, name, name, chaosRows)
		c.tables = append(c.tables, &chaosTable{name: name, cols: []chaosColumn{{"balance", "numeric"}, {"note", "text"}, {"n", "int"}}})
	}
	// Partitioned LOG_BASED tables need pgoutput (README: How each method works).
	if plugin == "pgoutput" {
		schema += fmt.Sprintf(`CREATE TABLE m (id bigint NOT NULL, region text NOT NULL, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE m_eu PARTITION OF m FOR VALUES IN ('eu');
CREATE TABLE m_us PARTITION OF m FOR VALUES IN ('us');
INSERT INTO m SELECT g, CASE WHEN g %% 2 = 0 THEN 'eu' ELSE 'us' END, g FROM generate_series(1, %d) g;
`, chaosRows)
		c.tables = append(c.tables, &chaosTable{name: "m", partitioned: true, regions: []string{"eu", "us"}, cols: []chaosColumn{{"v", "int"}}})
	}
	c.dsn, c.dbname = newDB(t, schema)
	c.nextID = chaosRows
	for _, tb := range c.tables {
		for i := int64(1); i <= chaosRows; i++ {
			tb.ids = append(tb.ids, i)
		}
		tb.late, tb.pending = map[string]*lateColumn{}, map[string]int{}
	}

	// The pipeline runs as its own role, so REVOKE SELECT bites: SELECT on
	// the tables (and on those created later), REPLICATION for the slot,
	// and a FOR ALL TABLES publication a superuser made (README step 1),
	// which also publishes renamed tables and attached partitions.
	c.role = "chaos_" + dbSuffix(c.dsn)
	setup := fmt.Sprintf(`CREATE ROLE %[1]s LOGIN REPLICATION;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO %[1]s;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO %[1]s;`, c.role)
	extra := map[string]any{"logical_plugin": plugin, "user": c.role, "batch_rows": 120}
	for k, v := range stores {
		extra[k] = v
	}
	if plugin == "pgoutput" {
		setup += "CREATE PUBLICATION chaos_pub FOR ALL TABLES WITH (publish_via_partition_root = true);"
		extra["publication"], extra["publish_all_tables"] = "chaos_pub", true
	}
	mustExec(t, c.dsn, setup)
	methods := map[string]string{}
	for _, tb := range c.tables {
		methods[tb.name] = "LOG_BASED"
	}
	c.p = newPipeline(t, c.dsn, extra, methods)
	c.settle(false) // the initial copies
	c.check()
	return c
}

// playRound: DML, one DDL with what the README says the user does after
// it, more DML, drains, then the check.
func (c *chaos) playRound() {
	c.dml(2 + c.r.Intn(6))
	kind := c.pickDDL()
	c.ddls[kind]++
	switch kind {
	case ddlAddColumn:
		c.addColumn()
	case ddlDropColumn:
		c.dropColumn()
	case ddlRenameColumn:
		c.renameColumn()
	case ddlRetype:
		c.retype()
	case ddlTruncate:
		c.truncate()
	case ddlAttach:
		c.attach()
	case ddlDetach:
		c.detach()
	case ddlRevoke:
		c.revoke()
	case ddlRenameTable:
		c.renameTable()
	}
	c.dml(c.r.Intn(4))
	c.settle(true)
	c.check()
}

// pickDDL draws a DDL kind that applies to the current tables.
func (c *chaos) pickDDL() string {
	kinds := []string{ddlAddColumn, ddlTruncate, ddlRevoke, ddlRenameTable, ddlRenameColumn}
	if c.pick(func(tb *chaosTable) bool { return len(tb.cols) >= 2 }) != nil {
		kinds = append(kinds, ddlDropColumn)
	}
	if c.pick(func(tb *chaosTable) bool { return tb.intColumn() != "" }) != nil {
		kinds = append(kinds, ddlRetype)
	}
	if m := c.pick(func(tb *chaosTable) bool { return tb.partitioned }); m != nil {
		kinds = append(kinds, ddlAttach)
		if len(m.regions) > 1 {
			kinds = append(kinds, ddlDetach)
		}
	}
	return kinds[c.r.Intn(len(kinds))]
}

// pick returns a random table for which ok holds, or nil.
func (c *chaos) pick(ok func(*chaosTable) bool) *chaosTable {
	var fit []*chaosTable
	for _, tb := range c.tables {
		if ok(tb) {
			fit = append(fit, tb)
		}
	}
	if len(fit) == 0 {
		return nil
	}
	return fit[c.r.Intn(len(fit))]
}

func anyTable(*chaosTable) bool { return true }

func (tb *chaosTable) intColumn() string {
	for _, col := range tb.cols {
		if col.kind == "int" {
			return col.name
		}
	}
	return ""
}

func (c *chaos) stream(tb *chaosTable) string { return catalog.StreamID(c.dbname, "public", tb.name) }

// exec runs statements as the superuser and records them for a repro.
func (c *chaos) exec(sql string) {
	c.t.Helper()
	c.history = append(c.history, fmt.Sprintf("-- round %d\n%s", c.round, sql))
	if err := execSQL(c.dsn, sql); err != nil {
		c.t.Fatalf("round %d: %s: %v", c.round, sql, err)
	}
}

// ddl runs one DDL statement and counts it.
func (c *chaos) ddl(sql string) {
	c.t.Helper()
	c.statements++
	c.exec(sql)
}

// dml runs n seeded inserts, updates and deletes across the tables in one
// transaction, and notes which rows changed.
func (c *chaos) dml(n int) {
	if n == 0 {
		return
	}
	var sql []string
	for range n {
		c.changes++
		tb := c.tables[c.r.Intn(len(c.tables))]
		switch op := c.r.Intn(4); {
		case op <= 1 || len(tb.ids) == 0: // insert
			c.nextID++
			id := c.nextID
			names, vals := []string{"id"}, []string{strconv.FormatInt(id, 10)}
			if tb.partitioned {
				names, vals = append(names, "region"), append(vals, "'"+tb.regions[c.r.Intn(len(tb.regions))]+"'")
			}
			for _, col := range tb.cols {
				names, vals = append(names, col.name), append(vals, c.value(col.kind))
			}
			sql = append(sql, fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", tb.name, strings.Join(names, ", "), strings.Join(vals, ", ")))
			tb.ids = append(tb.ids, id)
			tb.pending[strconv.FormatInt(id, 10)] = c.changes
		case op == 2 && len(tb.cols) > 0: // update every column: the change carries each
			id := tb.ids[c.r.Intn(len(tb.ids))]
			var set []string
			for _, col := range tb.cols {
				set = append(set, col.name+" = "+c.value(col.kind))
			}
			sql = append(sql, fmt.Sprintf("UPDATE %s SET %s WHERE id = %d", tb.name, strings.Join(set, ", "), id))
			tb.pending[strconv.FormatInt(id, 10)] = c.changes
		default: // delete
			i := c.r.Intn(len(tb.ids))
			id := tb.ids[i]
			tb.ids = slices.Delete(tb.ids, i, i+1)
			sql = append(sql, fmt.Sprintf("DELETE FROM %s WHERE id = %d", tb.name, id))
			tb.pending[strconv.FormatInt(id, 10)] = c.changes
		}
	}
	c.exec("BEGIN;\n" + strings.Join(sql, ";\n") + ";\nCOMMIT;")
}

// value returns a literal for a column kind; bigint values pass int's range.
func (c *chaos) value(kind string) string {
	switch kind {
	case "numeric":
		return fmt.Sprintf("%d.%02d", c.r.Intn(100000), c.r.Intn(100))
	case "text":
		return fmt.Sprintf("'r%d-%d'", c.round, c.r.Intn(1000))
	case "bigint":
		return strconv.FormatInt(1<<31+c.r.Int63n(1<<40), 10)
	default:
		return strconv.Itoa(c.r.Intn(1 << 30))
	}
}

// --- the DDL statements and what the user does after each (README) ---

// addColumn: replicated from its first change, without rediscovery (the
// table selects new columns by default); the run records it in the
// stored catalog, which then lists it as selected.
func (c *chaos) addColumn() {
	tb := c.pick(anyTable)
	col := chaosColumn{fmt.Sprintf("c%d", c.round), "int"}
	since := c.changes // every change after the ADD COLUMN carries it
	c.ddl(fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s int", tb.name, col.name))
	tb.cols = append(tb.cols, col)
	tb.late[col.name] = &lateColumn{since: since, carried: map[string]bool{}}
	c.dml(1 + c.r.Intn(3))
	c.settle(true)
	if !colSelected(c.p.cat.Stream(c.stream(tb)), col.name) {
		c.t.Fatalf("round %d: the stored catalog does not list the added column %s.%s as selected", c.round, tb.name, col.name)
	}
}

// dropColumn: a selected column dropped holds the slot until the user
// deselects it.
func (c *chaos) dropColumn() {
	tb := c.pick(func(tb *chaosTable) bool { return len(tb.cols) >= 2 })
	i := c.r.Intn(len(tb.cols))
	col := tb.cols[i].name
	c.ddl(fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s", tb.name, col))
	tb.cols = slices.Delete(tb.cols, i, i+1)
	delete(tb.late, col)
	c.dml(1 + c.r.Intn(3))
	c.expectHold(c.stream(tb))
	c.p.cat.Stream(c.stream(tb)).SetColumnMetadata(col, "selected", false)
}

// renameColumn: as a drop until discover, which selects the new name; the
// changes made meanwhile carry it.
func (c *chaos) renameColumn() {
	tb := c.pick(func(tb *chaosTable) bool { return len(tb.cols) > 0 })
	if tb == nil {
		c.ddls[ddlRenameColumn]--
		c.ddls[ddlAddColumn]++
		c.addColumn()
		return
	}
	i := c.r.Intn(len(tb.cols))
	old := tb.cols[i].name
	tb.cols[i].name = fmt.Sprintf("%s_r%d", strings.SplitN(old, "_", 2)[0], c.round)
	c.ddl(fmt.Sprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", tb.name, old, tb.cols[i].name))
	delete(tb.late, old)
	since := c.changes // changes before the rename carry the old name
	c.dml(1 + c.r.Intn(3))
	c.expectHold(c.stream(tb))
	c.p.rediscover(c.t)
	if !colSelected(c.p.cat.Stream(c.stream(tb)), tb.cols[i].name) {
		c.t.Fatalf("round %d: discover did not select the renamed column %s.%s", c.round, tb.name, tb.cols[i].name)
	}
	tb.late[tb.cols[i].name] = &lateColumn{since: since, carried: map[string]bool{}}
}

// retype: int -> bigint; the stream follows the new type, and later
// values beyond int's range arrive exactly.
func (c *chaos) retype() {
	tb := c.pick(func(tb *chaosTable) bool { return tb.intColumn() != "" })
	col := tb.intColumn()
	c.ddl(fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s TYPE bigint", tb.name, col))
	for i := range tb.cols {
		if tb.cols[i].name == col {
			tb.cols[i].kind = "bigint"
		}
	}
}

// truncate: a new, empty table version begins; its changes after follow.
func (c *chaos) truncate() {
	tb := c.pick(anyTable)
	before := activeVersion(c.t, c.p, c.stream(tb))
	c.ddl("TRUNCATE " + tb.name)
	tb.ids = nil
	c.dml(1 + c.r.Intn(3))
	c.settle(true)
	if after := activeVersion(c.t, c.p, c.stream(tb)); after == before {
		c.t.Fatalf("round %d: TRUNCATE %s began no new table version (still %d)", c.round, tb.name, after)
	}
	tb.late = map[string]*lateColumn{} // the new version holds every column
}

// attach: a new partition created and attached; rows inserted through
// the parent come under its name.
func (c *chaos) attach() {
	m := c.pick(func(tb *chaosTable) bool { return tb.partitioned })
	region := fmt.Sprintf("r%d", c.round)
	c.ddl(fmt.Sprintf("CREATE TABLE mp_%s (LIKE %s INCLUDING ALL)", region, m.name))
	c.ddl(fmt.Sprintf("ALTER TABLE %s ATTACH PARTITION mp_%s FOR VALUES IN ('%s')", m.name, region, region))
	m.regions = append(m.regions, region)
}

// detach: its rows stay in the current table until the stream is reset
// (README); the suite resets it and checks after the copy.
func (c *chaos) detach() {
	m := c.pick(func(tb *chaosTable) bool { return tb.partitioned && len(tb.regions) > 1 })
	i := c.r.Intn(len(m.regions))
	region := m.regions[i]
	m.regions = slices.Delete(m.regions, i, i+1)
	c.ddl(fmt.Sprintf("ALTER TABLE %s DETACH PARTITION %s", m.name, partitionName(region)))
	c.dml(1 + c.r.Intn(3))
	c.settle(true)
	id := c.stream(m)
	if _, err := replicate.Reset(context.Background(), c.p.app.Stores.Bookmarks, id, []string{id}, time.Now()); err != nil {
		c.t.Fatalf("round %d: reset %s: %v", c.round, id, err)
	}
	// The detached rows are gone from the source; forget their ids.
	m.ids = c.sourceIDs(m)
	m.late = map[string]*lateColumn{}
}

// revoke: the README promises the log still carries the table's changes
// and the current table stays as it was until SELECT is granted again. The
// table's stream cannot be resolved meanwhile: it fails with the GRANT to
// run and, as for any log stream that cannot be read, the slot holds
// (every stream fails naming it, the slot does not move). The check after
// the GRANT proves nothing was lost.
func (c *chaos) revoke() {
	tb := c.pick(anyTable)
	id := c.stream(tb)
	c.ddl(fmt.Sprintf("REVOKE SELECT ON %s FROM %s", tb.name, c.role))
	c.dml(1 + c.r.Intn(4))
	before := slotConfirmed(c.t, c.dsn, c.p.app.Cfg.SlotName)
	run := c.drainOnce()
	failed, held := false, false
	for _, s := range run.Streams {
		switch {
		case s.Error == "":
		case s.Stream == id && strings.Contains(s.Error, "GRANT SELECT"):
			failed = true
		case strings.Contains(s.Error, "the slot holds: stream "+id+" "):
			held = true
		default:
			c.t.Fatalf("round %d: with SELECT revoked on %s, stream %s failed: %s\n%s", c.round, tb.name, s.Stream, s.Error, c.repro())
		}
	}
	if failed {
		c.revokeFailures++
		if after := slotConfirmed(c.t, c.dsn, c.p.app.Cfg.SlotName); after != before {
			c.t.Fatalf("round %d: %s could not be read (SELECT revoked) but the slot moved from %s to %s\n%s", c.round, id, before, after, c.repro())
		}
	}
	if held {
		c.holds++
	}
	c.ddl(fmt.Sprintf("GRANT SELECT ON %s TO %s", tb.name, c.role))
}

// renameTable: the stream cannot be resolved and the slot holds; the user
// deselects it and selects the renamed table, a new stream, after discover.
func (c *chaos) renameTable() {
	tb := c.pick(anyTable)
	old := c.stream(tb)
	name := fmt.Sprintf("%s_r%d", strings.SplitN(tb.name, "_", 2)[0], c.round)
	c.ddl(fmt.Sprintf("ALTER TABLE %s RENAME TO %s", tb.name, name))
	tb.name = name
	c.dml(1 + c.r.Intn(3))
	c.expectHold(old)
	c.p.cat.Stream(old).SetTableMetadata("selected", false)
	c.p.rediscover(c.t)
	s := c.p.cat.Stream(c.stream(tb))
	if s == nil {
		c.t.Fatalf("round %d: discover found no stream %s for the renamed table", c.round, c.stream(tb))
	}
	s.SetTableMetadata("selected", true)
	s.SetTableMetadata("replication-method", "LOG_BASED")
	tb.late = map[string]*lateColumn{} // copied in full
	tb.pending = map[string]int{}
}

// --- drains ---

// drainOnce runs one bounded drain; two batches a run, so copies take
// several runs with changes in between.
// drainOnce runs the wal function's steps: the catalog as the user left
// it is the stored one, the drain, then the columns it met that the
// catalog does not list are recorded in the stored catalog.
func (c *chaos) drainOnce() *report.Run {
	c.t.Helper()
	ctx := context.Background()
	body, err := c.p.cat.Marshal()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.p.app.Stores.Sink.Put(ctx, layout.CatalogKey, body, "application/json"); err != nil {
		c.t.Fatal(err)
	}
	run, err := c.p.app.Drain(ctx, c.p.cat, app.RunOptions{MaxBatches: 2})
	if err != nil {
		c.t.Fatalf("round %d: drain: %v", c.round, err)
	}
	if _, err := c.p.app.RecordNewColumns(ctx, run, layout.CatalogKey); err != nil {
		c.t.Fatalf("round %d: record new columns: %v", c.round, err)
	}
	if c.p.cat, err = c.p.app.StoredCatalog(ctx, layout.CatalogKey); err != nil {
		c.t.Fatal(err)
	}
	return run
}

// settle drains until every stream's copy is done and a drain finds
// nothing more; while a copy is under way (and busy is set) DML goes on
// between the runs. Any stream error fails the test.
func (c *chaos) settle(busy bool) {
	c.t.Helper()
	for i := 0; ; i++ {
		if i > 60 {
			c.t.Fatalf("round %d: the drains did not settle in 60 runs", c.round)
		}
		run := c.drainOnce()
		for _, s := range run.Streams {
			if s.Error != "" {
				c.t.Fatalf("round %d: %s failed: %s\n%s", c.round, s.Stream, s.Error, c.repro())
			}
		}
		copying := false
		for _, tb := range c.tables {
			copying = copying || !c.copyDone(c.stream(tb))
		}
		if copying && busy && i < 3 {
			c.dml(1 + c.r.Intn(3))
			continue
		}
		if !copying && run.Rows() == 0 && run.Slot != nil && run.Slot.ReachedFence {
			break
		}
	}
	// Everything changed so far is in the sink, with the columns selected now.
	for _, tb := range c.tables {
		for id, n := range tb.pending {
			for _, lc := range tb.late {
				if n > lc.since {
					lc.carried[id] = true
				}
			}
		}
		tb.pending = map[string]int{}
	}
}

func (c *chaos) copyDone(id string) bool {
	bm, err := c.p.app.Stores.Bookmarks.Get(context.Background(), id)
	if err != nil {
		c.t.Fatal(err)
	}
	return bm.State.CopyDone
}

// expectHold: a drain now fails the stream of tb loudly ("the slot
// holds") and the slot's confirmed position does not move.
func (c *chaos) expectHold(id string) {
	c.t.Helper()
	before := slotConfirmed(c.t, c.dsn, c.p.app.Cfg.SlotName)
	run := c.drainOnce()
	holds, failed := 0, false
	for _, s := range run.Streams {
		holds += strings.Count(s.Error, "the slot holds")
		failed = failed || s.Stream == id && s.Error != ""
	}
	if holds == 0 || !failed {
		c.t.Fatalf("round %d: expected the slot to hold for %s: %+v\n%s", c.round, id, run.Streams, c.repro())
	}
	if after := slotConfirmed(c.t, c.dsn, c.p.app.Cfg.SlotName); after != before {
		c.t.Fatalf("round %d: the slot moved from %s to %s past changes of %s it could not read\n%s", c.round, before, after, id, c.repro())
	}
	c.holds++
}

// --- the check ---

// check compares each stream's current table (its active version merged by
// key) with the source on the columns both have and the catalog selects.
func (c *chaos) check() {
	c.t.Helper()
	for _, tb := range c.tables {
		id := c.stream(tb)
		active := activeVersion(c.t, c.p, id)
		c.doubled += copyDuplicates(copyRows(c.t, c.p, id, active))
		c.compare(tb, merge(versionRows(c.t, c.p, id, active)), "the current table merged from the active version")
	}
}

// checkLoader loads the output directory with the README's loader
// (docs/loader/load-dir.sh, JSON Lines) into a new database and compares
// each stream's pg2s3_current rows with the source, as check does.
func (c *chaos) checkLoader() {
	c.t.Helper()
	dsn := loadWithLoader(c.t, c.p.app.Cfg.Sink.Path)
	for _, tb := range c.tables {
		got := loadedCurrent(c.t, dsn, c.stream(tb))
		c.loaderChecked += len(got)
		c.compare(tb, got, "pg2s3_current loaded by docs/loader/load-dir.sh")
	}
}

// loadWithLoader loads a directory sink's output with the README's loader
// (docs/loader/load-dir.sh, JSON Lines) into a new database, returned.
func loadWithLoader(t *testing.T, sinkPath string) string {
	t.Helper()
	_, dsn, err := testPG.NewDatabase(context.Background(), "loader")
	if err != nil {
		t.Fatal(err)
	}
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", filepath.Join(root, "docs", "loader", "load-dir.sh"), sinkPath, "-d", dsn)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(testPG.Bin("psql"))+string(os.PathListSeparator)+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("load-dir.sh: %v\n%s", err, out)
	}
	return dsn
}

// loadedCurrent is stream's pg2s3_current in a database the loader
// filled: id -> the row's document.
func loadedCurrent(t *testing.T, dsn, stream string) map[string]map[string]any {
	t.Helper()
	rows, err := testenv.RowsByID(context.Background(), dsn, fmt.Sprintf("SELECT c.doc->>'id' AS id, c.doc AS d FROM pg2s3_current c WHERE c.stream = '%s'", stream))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]any{}
	for id, r := range rows {
		got[id], _ = r["d"].(map[string]any)
	}
	return got
}

// compare counts what got (id -> row) lost, doubled or got wrong against
// the source table on the columns both have and the catalog selects.
func (c *chaos) compare(tb *chaosTable, got map[string]map[string]any, what string) {
	c.t.Helper()
	id := c.stream(tb)
	s := c.p.cat.Stream(id)
	cols := []string{"id"}
	for _, col := range tb.cols {
		if colSelected(s, col.name) {
			cols = append(cols, col.name)
		}
	}
	if tb.partitioned {
		cols = append(cols, "region")
	}
	want := tableState(c.t, c.dsn, fmt.Sprintf("SELECT %s FROM %s", strings.Join(cols, ", "), tb.name))
	c.checked += len(want)
	var problems []string
	for key, w := range want {
		g := got[key]
		if g == nil {
			c.lost++
			problems = append(problems, fmt.Sprintf("row %s lost: table %v", key, w))
			continue
		}
		for _, col := range cols {
			gv, has := g[col]
			if lc, late := tb.late[col]; late && !has && !lc.carried[key] && w[col] != nil {
				// Untouched since the column was selected, and not NULL
				// (which an absent column reads as): the README limit.
				c.notBackfill++
				continue
			}
			if !reflect.DeepEqual(gv, w[col]) {
				c.wrong++
				problems = append(problems, fmt.Sprintf("row %s column %s: replicated %v (present %v), table %v", key, col, gv, has, w[col]))
			}
		}
	}
	for key, g := range got {
		if want[key] == nil {
			c.doubled++
			problems = append(problems, fmt.Sprintf("row %s is in the current table but not in the source: %v", key, g))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		c.t.Errorf("round %d (%s, DDL_SEED=%d): stream %s (%s) differs from table %s:\n  %s\n%s", c.round, c.variant, c.seed, id, what, tb.name,
			strings.Join(problems[:min(len(problems), 10)], "\n  "), c.repro())
	}
}

// copyDuplicates counts copy rows whose key an earlier copy row of the
// same version already held (log changes may repeat a key; a copy may not).
func copyDuplicates(rows []map[string]any) int {
	seen, dups := map[string]bool{}, 0
	for _, r := range rows {
		key := fmt.Sprint(r["id"])
		if seen[key] {
			dups++
		}
		seen[key] = true
	}
	return dups
}

// copyRows returns the rows the copy manifests of one version name.
func copyRows(t *testing.T, p *pipeline, id string, version int64) []map[string]any {
	t.Helper()
	ctx := context.Background()
	keys, err := p.app.Stores.Sink.List(ctx, id+"/")
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, k := range keys {
		if o, ok := layout.ParseObject(k); !ok || o.Kind != layout.CopyManifest {
			continue
		}
		body, _ := p.app.Stores.Sink.Get(ctx, k)
		var m replicate.Manifest
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		if m.TableVersion != version {
			continue
		}
		for _, obj := range m.Objects {
			data, err := p.app.Stores.Sink.Get(ctx, obj.Key)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, readObject(t, obj.Key, data)...)
		}
	}
	return out
}

// partitionName is the table of a region's partition: the schema's m_eu
// and m_us, or one the suite attached.
func partitionName(region string) string {
	if region == "eu" || region == "us" {
		return "m_" + region
	}
	return "mp_" + region
}

// colSelected says whether the catalog selects a column: its "selected",
// else its selected-by-default; key columns always.
func colSelected(s *catalog.Stream, col string) bool {
	if s == nil {
		return false
	}
	md := s.ColumnMetadata(col)
	if md == nil {
		return false
	}
	if md["inclusion"] == "automatic" {
		return true
	}
	if v, ok := md["selected"].(bool); ok {
		return v
	}
	v, _ := md["selected-by-default"].(bool)
	return v
}

// sourceIDs lists the ids a table holds now.
func (c *chaos) sourceIDs(tb *chaosTable) []int64 {
	var ids []int64
	for key := range tableState(c.t, c.dsn, "SELECT id FROM "+tb.name) {
		n, _ := strconv.ParseInt(key, 10, 64)
		ids = append(ids, n)
	}
	slices.Sort(ids)
	return ids
}

// repro prints the seed and the last statements, to replay a failure.
func (c *chaos) repro() string {
	from := max(0, len(c.history)-12)
	return fmt.Sprintf("replay: DDL_SEED=%d go test -count=1 -run 'TestDDLChaos/%s' ./shared/app/ (round %d); last statements:\n%s",
		c.seed, c.variant, c.round, strings.Join(c.history[from:], "\n"))
}

func (c *chaos) printFigures(rounds int) {
	var kinds []string
	for k, n := range c.ddls {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(kinds)
	c.t.Logf("DDL chaos %s, seed %d: %d rounds; %d DDL statements (%s); %d holds seen; revoked stream failed %d times; %d rows checked (%d of them through docs/loader); %d lost, %d doubled, %d wrong; %d late-column values not yet backfilled (README limit)",
		c.variant, c.seed, min(c.round-1, rounds), c.statements, strings.Join(kinds, ", "), c.holds, c.revokeFailures, c.checked, c.loaderChecked, c.lost, c.doubled, c.wrong, c.notBackfill)
	if c.lost+c.doubled+c.wrong > 0 {
		c.t.Errorf("rows lost %d, doubled %d, wrong %d: want 0", c.lost, c.doubled, c.wrong)
	}
}
