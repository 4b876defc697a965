package preflight

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pgtest"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

func byName(results []Result) map[string]Result {
	m := map[string]Result{}
	for _, r := range results {
		m[r.Name] = r
	}
	return m
}

func TestCheckSuperuserPasses(t *testing.T) {
	cfg := pgtest.NewDB(t, testPG, "check", `CREATE TABLE "Order Items" (id int PRIMARY KEY)`)
	cfg.Password = "hunter2-secret" // trust auth ignores it; it must never be printed
	results := Check(context.Background(), FromConfig(cfg), [][2]string{{"public", "Order Items"}, {"public", "missing"}}, nil)
	got := byName(results)
	for _, name := range []string{"connect", "server_version", "wal_level", "replication_slots", "max_wal_senders",
		"replication_privilege", `select "public"."Order Items"`, "standby", "plugin pgoutput", "plugin wal2json", "replication_connection"} {
		r, ok := got[name]
		if !ok {
			t.Errorf("no %s check in %+v", name, results)
			continue
		}
		if !r.OK {
			t.Errorf("%s failed: %s — fix: %s", name, r.Detail, r.Fix)
		}
	}
	if r := got[`select "public"."missing"`]; r.OK || !strings.Contains(r.Detail, "does not exist") {
		t.Errorf("missing table: %+v", r)
	}
	if r := got["wal_level"]; r.Detail != "wal_level = logical" {
		t.Errorf("wal_level detail = %q", r.Detail)
	}
	for _, r := range results {
		if strings.Contains(r.Detail+r.Fix, "hunter2") {
			t.Errorf("secret in %+v", r)
		}
	}
}

func TestCheckUnprivilegedUser(t *testing.T) {
	cfg := pgtest.NewDB(t, testPG, "checkuser", `
CREATE SCHEMA app;
CREATE TABLE app.a (id int PRIMARY KEY);
CREATE TABLE app.b (id int PRIMARY KEY);
DROP ROLE IF EXISTS check_plain;
CREATE ROLE check_plain LOGIN;
GRANT USAGE ON SCHEMA app TO check_plain;
GRANT SELECT ON app.a TO check_plain;`)
	user := *cfg
	user.User = "check_plain"
	user.FilterSchemas = []string{"app"}
	got := byName(Check(context.Background(), FromConfig(&user), nil, nil))
	if r := got["replication_privilege"]; r.OK || !strings.Contains(r.Fix, `ALTER ROLE "check_plain" REPLICATION`) {
		t.Errorf("replication_privilege: %+v", r)
	}
	if r := got["select"]; r.OK || !strings.Contains(r.Detail, `no SELECT on 1 of 2`) || !strings.Contains(r.Detail, `"app"."b"`) {
		t.Errorf("select: %+v", r)
	}
	// pgoutput is what this config needs and cannot be tested without REPLICATION.
	if r := got["plugin pgoutput"]; r.OK {
		t.Errorf("plugin pgoutput: %+v", r)
	}
	if r := got["connect"]; !r.OK {
		t.Errorf("connect: %+v", r)
	}
	// The walsender refuses a user without REPLICATION: the fix is the
	// privilege, not CONNECT or pg_hba.
	if r := got["replication_connection"]; r.OK || !strings.Contains(r.Fix, `ALTER ROLE "check_plain" REPLICATION`) || strings.Contains(r.Detail+r.Fix, "GRANT CONNECT") {
		t.Errorf("replication_connection: %+v", r)
	}
}

func TestCheckConnectFailure(t *testing.T) {
	cfg := pgtest.NewDB(t, testPG, "checkconn", "")
	bad := *cfg
	bad.DBName = "no_such_db"
	bad.Password = "s3cret-pw"
	results := Check(context.Background(), FromConfig(&bad), nil, nil)
	if len(results) != 1 || results[0].OK || !strings.Contains(results[0].Detail, "database does not exist") {
		t.Fatalf("results = %+v", results)
	}
	if strings.Contains(results[0].Detail, "s3cret") {
		t.Error("password printed")
	}
	nobody := *cfg
	nobody.User = "no_such_role"
	if r := Check(context.Background(), FromConfig(&nobody), nil, nil); len(r) != 1 || !strings.Contains(r[0].Fix, "create the role") || strings.Contains(r[0].Detail+r[0].Fix, "pg_hba") {
		t.Fatalf("a role that does not exist: %+v", r)
	}
}

// TestCheckLogTables: check --catalog catches, before any drain, a keyless
// table without REPLICA IDENTITY FULL, a view, and a publication the user
// may not create or extend, each with the statement that fixes it.
func TestCheckLogTables(t *testing.T) {
	cfg := pgtest.NewDB(t, testPG, "checklog", `
CREATE TABLE keyed (id int PRIMARY KEY);
CREATE TABLE keyless (at timestamptz, msg text);
CREATE VIEW v AS SELECT * FROM keyed;
CREATE TABLE parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100);
DROP ROLE IF EXISTS check_repl;
CREATE ROLE check_repl LOGIN REPLICATION;
GRANT SELECT ON keyed, keyless, v, parted TO check_repl;`)
	user := *cfg
	user.User, user.Publication = "check_repl", "pub_checklog"
	logTables := [][2]string{{"public", "keyed"}, {"public", "keyless"}, {"public", "v"}, {"public", "parted"}}
	got := byName(Check(context.Background(), FromConfig(&user), logTables, logTables))
	if r := got[`log_based "public"."keyed"`]; !r.OK {
		t.Errorf("keyed: %+v", r)
	}
	if r := got[`log_based "public"."keyless"`]; r.OK || !strings.Contains(r.Fix, `ALTER TABLE "public"."keyless" REPLICA IDENTITY FULL`) {
		t.Errorf("keyless: %+v", r)
	}
	if r := got[`log_based "public"."v"`]; r.OK || !strings.Contains(r.Detail, "is a view") {
		t.Errorf("view: %+v", r)
	}
	if r := got[`log_based "public"."parted"`]; !r.OK {
		t.Errorf("a partitioned table under pgoutput: %+v", r)
	}
	w2j := user
	w2j.LogicalPlugin = "wal2json"
	if r := byName(Check(context.Background(), FromConfig(&w2j), logTables, logTables))[`log_based "public"."parted"`]; r.OK || !strings.Contains(r.Fix, "logical_plugin pgoutput") {
		t.Errorf("a partitioned table under wal2json: %+v", r)
	}
	if r := got["publication"]; r.OK || !strings.Contains(r.Fix, `CREATE PUBLICATION "pub_checklog" FOR TABLE "public"."keyed", "public"."keyless", "public"."parted", "public"."v" WITH (publish_via_partition_root = true)`) {
		t.Errorf("missing publication: %+v", r)
	}
	if err := testenv.Exec(context.Background(), testPG.DSN(cfg.DBName), `CREATE PUBLICATION pub_checklog FOR TABLE keyed`); err != nil {
		t.Fatal(err)
	}
	two := logTables[:2]
	if r := byName(Check(context.Background(), FromConfig(&user), two, two))["publication"]; r.OK || !strings.Contains(r.Fix, `ALTER PUBLICATION "pub_checklog" ADD TABLE "public"."keyless"`) {
		t.Errorf("publication lacking a table: %+v", r)
	}
	super := *cfg
	super.Publication = "pub_checklog"
	if r := byName(Check(context.Background(), FromConfig(&super), two, two))["publication"]; !r.OK || !strings.Contains(r.Detail, "the first drain adds") {
		t.Errorf("a superuser may extend it: %+v", r)
	}
}

// check's allow-list line: none on a server without the parameter, PASS
// or FAIL (with the fix) on one that has it.
func TestCheckAllowListLine(t *testing.T) {
	lines := func(srv connect.Server, plugin string) []Result {
		var out []Result
		c := &checker{settings: FromConfig(&config.Config{LogicalPlugin: plugin}), srv: srv,
			add: func(name string, ok bool, detail, fix string) {
				out = append(out, Result{Name: name, OK: ok, Detail: detail, Fix: fix})
			}}
		c.allowList()
		return out
	}
	if got := lines(connect.Server{Version: 150018}, "wal2json"); len(got) != 0 {
		t.Errorf("a server without output_plugin_libraries: %+v", got)
	}
	list := connect.Server{Version: 150020, HasAllowList: true, AllowList: []string{"pgoutput", "test_decoding"}}
	if got := lines(list, "pgoutput"); len(got) != 1 || !got[0].OK || got[0].Detail != "output_plugin_libraries (pgoutput, test_decoding) allows pgoutput" {
		t.Errorf("pgoutput allowed: %+v", got)
	}
	if got := lines(list, "wal2json"); len(got) != 1 || got[0].OK || !strings.Contains(got[0].Fix, "ALTER SYSTEM SET output_plugin_libraries") || !strings.Contains(got[0].Fix, "logical_plugin pgoutput") {
		t.Errorf("wal2json refused: %+v", got)
	}
}

// testPG is the package's private cluster, started once by TestMain.
var testPG *testenv.Postgres

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithPostgres(m, &testPG, testenv.PostgresOptions{}))
}
