// Package preflight checks a server and its user for pg2s3 (pg2s3
// check): the server's version and settings, the slots and WAL senders
// free, the user's privileges on the tables and for replication, what the
// log needs of each log-based table and of the publication, the output
// plugins, a replication connection, and the replica use_secondary reads
// from. Each result says what it found and, when it fails, the fix.
package preflight

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
	"github.com/pg2s3/pg2s3/shared/postgres/logical"
	"github.com/pg2s3/pg2s3/shared/postgres/tables"
)

// Settings are what the checks connect with and look for.
type Settings struct {
	// Log is the primary's connection and the slot, plugin and
	// publication log-based replication uses.
	Log logical.Settings
	// Tables says which tables a check without a catalog covers.
	Tables tables.Settings
	// Secondary is the replica use_secondary reads from; nil without
	// use_secondary.
	Secondary *connect.Settings
}

// FromConfig takes the settings of c.
func FromConfig(c *config.Config) Settings {
	s := Settings{Log: logical.FromConfig(c), Tables: tables.FromConfig(c)}
	if c.UseSecondary {
		secondary := connect.FromConfig(c.ForReads())
		s.Secondary = &secondary
	}
	return s
}

// Result is one line of `pg2s3 check`.
type Result struct {
	Name   string // short identifier: connect, server_version, wal_level, ...
	OK     bool
	Detail string // what was found, a sentence
	Fix    string // what to do when !OK
}

// standbyDelayFloor is the least max_standby_*_delay recommended while a
// first copy runs on a replica (Stitch recommends 8 to 12 hours).
const standbyDelayFloor = 8 * time.Hour

// Check connects to the primary and reports whether the server and the
// user are ready for pg2s3: each result names what it found and, when
// failing, the fix. tables are the (schema, table) pairs to be replicated;
// when empty, every table discover would list is checked in one summary
// line. logTables are those replicated LOG_BASED: checked for a row
// identity and the publication. Secrets never appear in the results.
func Check(ctx context.Context, s Settings, tables, logTables [][2]string) []Result {
	var out []Result
	conn := s.Log.Conn
	add := func(name string, ok bool, detail, fix string) {
		out = append(out, Result{Name: name, OK: ok, Detail: conn.Redact(detail), Fix: conn.Redact(fix)})
	}
	db := open(ctx, conn, add)
	if db == nil {
		return out
	}
	defer db.Close(context.WithoutCancel(ctx))

	c := &checker{ctx: ctx, db: db, conn: pg.PGX(db), settings: s, add: add}
	c.version()
	c.allowList()
	c.walLevel()
	c.slots()
	c.walSenders()
	c.replicationRole()
	c.privileges(tables)
	c.logTables(logTables)
	c.standby()
	c.plugins()
	c.replicationConnection()
	return out
}

// open connects with s for the checks and reports how that went as the
// connect line: the problem and its fix, or where it connected. It returns
// nil when it could not connect.
func open(ctx context.Context, s connect.Settings, add func(name string, ok bool, detail, fix string)) *connect.Conn {
	db, err := connect.Open(ctx, s)
	if err != nil {
		problem, fix := splitFix(err)
		add("connect", false, problem, fix)
		return nil
	}
	add("connect", true, "connect to "+s.String(), "")
	return db
}

// splitFix returns an explained failure's problem and fix (an unexplained
// one has no fix).
func splitFix(err error) (string, string) {
	var fe *connect.FixError
	if errors.As(err, &fe) {
		return fe.Problem, fe.Fix
	}
	return err.Error(), ""
}

type checker struct {
	ctx           context.Context
	db            *connect.Conn
	conn          *pgx.Conn
	settings      Settings
	add           func(name string, ok bool, detail, fix string)
	srv           connect.Server
	serverVersion int
	super         bool
	mayRepl       bool
}

func (c *checker) setting(name string) (string, error) {
	var v string
	err := c.conn.QueryRow(c.ctx, "SELECT setting FROM pg_settings WHERE name = $1", name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return v, err
}

func (c *checker) intSetting(name string) (int, error) {
	v, err := c.setting(name)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(v)
}

func (c *checker) failed(name, what string, err error) {
	c.add(name, false, fmt.Sprintf("%s: %v", what, err), "rerun with a user that may read pg_settings and pg_roles")
}

func (c *checker) version() {
	srv, err := connect.DetectServer(c.ctx, c.db)
	if err != nil {
		c.failed("server_version", "read the server's version", err)
		return
	}
	c.srv, c.serverVersion = srv, srv.Version
	if err := srv.Supports(c.settings.Log.Plugin); err != nil {
		problem, fix := splitFix(err)
		c.add("server_version", false, "server version "+srv.HumanVersion()+": "+problem, fix)
		return
	}
	c.add("server_version", true, "server version "+srv.HumanVersion(), "")
}

// allowList reports output_plugin_libraries on servers that have it
// (15.19+ and the matching minor releases of other majors).
func (c *checker) allowList() {
	if c.srv.Version == 0 || !c.srv.HasAllowList {
		return
	}
	plugin, list := c.settings.Log.Plugin, strings.Join(c.srv.AllowList, ", ")
	if c.srv.PluginAllowed(plugin) {
		c.add("output_plugin_libraries", true, fmt.Sprintf("output_plugin_libraries (%s) allows %s", list, plugin), "")
		return
	}
	fe := c.srv.PluginNotAllowed(plugin)
	c.add("output_plugin_libraries", false, fe.Problem, fe.Fix)
}

func (c *checker) walLevel() {
	v, err := c.setting("wal_level")
	if err != nil {
		c.failed("wal_level", "read wal_level", err)
		return
	}
	if v == "logical" {
		c.add("wal_level", true, "wal_level = logical", "")
		return
	}
	c.add("wal_level", false, fmt.Sprintf("wal_level = %s (log-based replication needs logical)", v),
		"ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL (RDS/Aurora: set rds.logical_replication = 1 in the parameter group and reboot)")
}

func (c *checker) slots() {
	maxSlots, err := c.intSetting("max_replication_slots")
	if err != nil {
		c.failed("replication_slots", "read max_replication_slots", err)
		return
	}
	var used int
	var ours bool
	err = c.conn.QueryRow(c.ctx, "SELECT count(*), coalesce(bool_or(slot_name = $1), false) FROM pg_replication_slots", c.settings.Log.Slot).Scan(&used, &ours)
	if err != nil {
		c.failed("replication_slots", "read pg_replication_slots", err)
		return
	}
	detail := fmt.Sprintf("max_replication_slots = %d, %d in use, %d free", maxSlots, used, maxSlots-used)
	switch {
	case ours:
		c.add("replication_slots", true, detail+fmt.Sprintf("; slot %s exists", c.settings.Log.Slot), "")
		c.slot()
	case maxSlots-used >= 1:
		c.add("replication_slots", true, detail, "")
	default:
		c.add("replication_slots", false, detail+fmt.Sprintf("; no room for slot %s", c.settings.Log.Slot),
			"raise max_replication_slots (e.g. ALTER SYSTEM SET max_replication_slots = 10; restart) or drop unused slots with pg_drop_replication_slot")
	}
}

// slot reports the pipeline's slot: plugin, activity, confirmed position
// and the WAL it holds back.
func (c *checker) slot() {
	info, err := logical.New(c.db, c.settings.Log).Slot(c.ctx)
	if err != nil {
		c.failed("slot", "read slot "+c.settings.Log.Slot, err)
		return
	}
	detail := fmt.Sprintf("slot %s: plugin %s, %s, confirmed_flush_lsn %s, holds %.1f MiB of WAL (wal_status %s)",
		info.Name, info.Plugin, map[bool]string{true: fmt.Sprintf("active (pid %d)", info.ActivePID), false: "inactive"}[info.Active],
		pg.FormatLSN(info.ConfirmedFlushLSN), float64(info.RetainedBytes)/(1<<20), info.WALStatus)
	switch {
	case info.Plugin != c.settings.Log.Plugin:
		c.add("slot", false, detail, fmt.Sprintf("the config asks for %s: set logical_plugin to %s, or choose another slot_name, or pg2s3 reset --slot --confirm", c.settings.Log.Plugin, info.Plugin))
	case info.WALStatus == "lost":
		c.add("slot", false, detail, "the WAL the slot needs is gone: pg2s3 reset --slot --confirm re-copies the log-based streams")
	default:
		c.add("slot", true, detail, "")
	}
}

func (c *checker) walSenders() {
	maxSenders, err := c.intSetting("max_wal_senders")
	if err != nil {
		c.failed("max_wal_senders", "read max_wal_senders", err)
		return
	}
	var active int
	if err := c.conn.QueryRow(c.ctx, "SELECT count(*) FROM pg_stat_replication").Scan(&active); err != nil {
		c.failed("max_wal_senders", "read pg_stat_replication", err)
		return
	}
	detail := fmt.Sprintf("max_wal_senders = %d, %d in use", maxSenders, active)
	if maxSenders-active >= 1 {
		c.add("max_wal_senders", true, detail, "")
		return
	}
	c.add("max_wal_senders", false, detail+" (none free for a replication connection)",
		"ALTER SYSTEM SET max_wal_senders = 10; then restart PostgreSQL")
}

func (c *checker) replicationRole() {
	var user string
	var rds bool
	err := c.conn.QueryRow(c.ctx, `
SELECT current_user, r.rolsuper, r.rolreplication,
  EXISTS (SELECT 1 FROM pg_roles g WHERE g.rolname = 'rds_replication' AND pg_has_role(r.oid, g.oid, 'MEMBER'))
FROM pg_roles r WHERE r.rolname = current_user`).Scan(&user, &c.super, &c.mayRepl, &rds)
	if err != nil {
		c.failed("replication_privilege", "read pg_roles", err)
		return
	}
	who := pgx.Identifier{user}.Sanitize()
	switch {
	case c.super:
		c.mayRepl = true
		c.add("replication_privilege", true, fmt.Sprintf("user %s is a superuser and may create replication slots", user), "")
	case c.mayRepl:
		c.add("replication_privilege", true, fmt.Sprintf("user %s has REPLICATION and may create replication slots", user), "")
	case rds:
		c.mayRepl = true
		c.add("replication_privilege", true, fmt.Sprintf("user %s is a member of rds_replication and may create replication slots", user), "")
	default:
		c.add("replication_privilege", false, fmt.Sprintf("user %s may not create replication slots (needs REPLICATION, which Stitch's instructions leave out)", user),
			fmt.Sprintf("ALTER ROLE %s REPLICATION; (RDS/Aurora: GRANT rds_replication TO %s)", who, who))
	}
}

func (c *checker) privileges(tables [][2]string) {
	if len(tables) == 0 {
		c.allTables()
		return
	}
	for _, t := range tables {
		name := pgx.Identifier{t[0], t[1]}.Sanitize()
		var exists, usage, sel bool
		err := c.conn.QueryRow(c.ctx, `
SELECT to_regclass($1) IS NOT NULL,
  coalesce(has_schema_privilege(n.oid, 'USAGE'), false),
  coalesce(has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(to_regclass($1), 'SELECT'), false)
FROM (SELECT 1) one LEFT JOIN pg_namespace n ON n.nspname = $2`, name, t[0]).Scan(&exists, &usage, &sel)
		switch {
		case err != nil && strings.Contains(err.Error(), "42501"):
			c.add("select "+name, false, fmt.Sprintf("no USAGE on schema %s", pgx.Identifier{t[0]}.Sanitize()),
				fmt.Sprintf("GRANT USAGE ON SCHEMA %s TO <user>; GRANT SELECT ON %s TO <user>", pgx.Identifier{t[0]}.Sanitize(), name))
		case err != nil:
			c.failed("select "+name, "check privileges on "+name, err)
		case !exists:
			c.add("select "+name, false, name+" does not exist", "run pg2s3 discover again and update the catalog's selection")
		case !usage:
			c.add("select "+name, false, fmt.Sprintf("no USAGE on schema %s", pgx.Identifier{t[0]}.Sanitize()),
				fmt.Sprintf("GRANT USAGE ON SCHEMA %s TO <user>", pgx.Identifier{t[0]}.Sanitize()))
		case !sel:
			c.add("select "+name, false, "no SELECT on "+name, fmt.Sprintf("GRANT SELECT ON %s TO <user>", name))
		default:
			c.add("select "+name, true, "SELECT on "+name, "")
		}
	}
}

// allTables summarises privileges over every relation discover would list.
func (c *checker) allTables() {
	all, unreadable, err := tables.New(c.db, c.settings.Tables).Unreadable(c.ctx)
	if err != nil {
		c.failed("select", "list tables", err)
		return
	}
	var denied []string
	for _, t := range unreadable {
		denied = append(denied, pgx.Identifier{t[0], t[1]}.Sanitize())
	}
	switch {
	case all == 0:
		c.add("select", false, "no tables, views or materialized views found in the selected schemas", "check dbname and filter_schemas")
	case len(denied) == 0:
		c.add("select", true, fmt.Sprintf("SELECT on all %d tables and views", all), "")
	default:
		shown := denied
		if len(shown) > 10 {
			shown = append(shown[:10:10], fmt.Sprintf("and %d more", len(denied)-10))
		}
		c.add("select", false, fmt.Sprintf("no SELECT on %d of %d tables and views: %s", len(denied), all, strings.Join(shown, ", ")),
			"GRANT USAGE ON SCHEMA <schema> TO <user>; GRANT SELECT ON ALL TABLES IN SCHEMA <schema> TO <user>; ALTER DEFAULT PRIVILEGES IN SCHEMA <schema> GRANT SELECT ON TABLES TO <user>")
	}
}

func (c *checker) standby() {
	var recovery bool
	if err := c.conn.QueryRow(c.ctx, "SELECT pg_is_in_recovery()").Scan(&recovery); err != nil {
		c.failed("standby", "read pg_is_in_recovery()", err)
		return
	}
	if !recovery {
		c.add("standby", true, "server is a primary (not in recovery)", "")
		return
	}
	c.add("standby", false, "server is a standby: pg2s3 reads the log on the primary (a drain writes its end marker there)",
		"set host to the primary for log-based streams; full-table and incremental streams may read from this standby with use_secondary and secondary_host")
	c.standbySettings()
}
