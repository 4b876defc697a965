package logical

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pgtest"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

func TestEnsureSlot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, conn := logDB(t, "pgoutput")
	if err := ensurePublication(ctx, pg.PGX(conn), cfg.Publication, true, nil); err != nil {
		t.Fatal(err)
	}
	info, created, err := ensureSlot(ctx, cfg)
	if err != nil || !created || !info.Exists || info.Plugin != "pgoutput" || info.ConfirmedFlushLSN == 0 || info.Database != cfg.DBName {
		t.Fatalf("create: %+v created=%v err=%v", info, created, err)
	}
	t.Cleanup(func() { dropSlot(context.Background(), cfg) })
	info, created, err = ensureSlot(ctx, cfg)
	if err != nil || created || !info.Exists {
		t.Fatalf("again: %+v created=%v err=%v", info, created, err)
	}
	mustExec(t, conn, "CREATE TABLE t AS SELECT generate_series(1, 1000) AS i")
	if info, _ = getSlot(ctx, pg.PGX(conn), cfg.SlotName); info.RetainedBytes <= 0 || info.WALStatus != "reserved" {
		t.Fatalf("retained: %+v", info)
	}

	w2j := *cfg
	w2j.LogicalPlugin = "wal2json"
	_, _, err = ensureSlot(ctx, &w2j)
	if !errors.Is(err, ErrSlotPlugin) || !strings.Contains(err.Error(), "reset --slot") {
		t.Fatalf("wrong plugin: %v", err)
	}
	if _, err := openLog(ctx, FromConfig(&w2j), logOptions{}); !errors.Is(err, ErrSlotPlugin) {
		t.Fatalf("open with wrong plugin: %v", err)
	}

	r := mustOpenLog(t, cfg, logOptions{})
	info, _, err = ensureSlot(ctx, cfg)
	if !errors.Is(err, ErrSlotActive) || !strings.Contains(err.Error(), "pid ") {
		t.Fatalf("active elsewhere: %+v %v", info, err)
	}
	if err := dropSlot(ctx, cfg); !errors.Is(err, ErrSlotActive) {
		t.Fatalf("drop active: %v", err)
	}
	r.Close(ctx)
	if err := dropSlot(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := dropSlot(ctx, cfg); err != nil {
		t.Fatalf("drop missing: %v", err)
	}
	if info, _ := getSlot(ctx, pg.PGX(conn), cfg.SlotName); info.Exists {
		t.Fatalf("still there: %+v", info)
	}
	if _, err := openLog(ctx, FromConfig(cfg), logOptions{}); !errors.Is(err, ErrSlotNotFound) {
		t.Fatalf("open missing: %v", err)
	}
}

func TestEnsureSlotWithoutReplicationPrivilege(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, conn := logDB(t, "pgoutput")
	role := "norepl_" + cfg.DBName
	mustExec(t, conn, "CREATE ROLE "+role+" LOGIN")
	t.Cleanup(func() { pg.PGX(conn).Exec(context.Background(), "DROP ROLE "+role) })
	user := *cfg
	user.User = role
	_, _, err := ensureSlot(ctx, &user)
	if !errors.Is(err, ErrReplicationPrivilege) || !strings.Contains(err.Error(), "ALTER ROLE "+role+" REPLICATION") {
		t.Fatalf("no privilege: %v", err)
	}
	mustExec(t, conn, "ALTER ROLE "+role+" REPLICATION")
	info, created, err := ensureSlot(ctx, &user)
	if err != nil || !created {
		t.Fatalf("with REPLICATION: %+v %v", info, err)
	}
	defer dropSlot(ctx, &user)
	if _, err := New(pgtest.Open(t, &user), FromConfig(&user)).Heartbeat(ctx); err != nil {
		t.Fatalf("heartbeat as a replication role: %v", err)
	}
}

func TestExplainSlotError(t *testing.T) {
	cfg := &config.Config{User: "app", LogicalPlugin: "wal2json"}
	for _, tc := range []struct {
		err  *pgconn.PgError
		want error
		text string
	}{
		{&pgconn.PgError{Code: "55000", Message: "logical decoding requires wal_level >= logical"}, ErrWALLevel, "rds.logical_replication = 1"},
		{&pgconn.PgError{Code: "53400", Message: "all replication slots are in use"}, ErrNoFreeSlot, "max_replication_slots"},
		{&pgconn.PgError{Code: "42501", Message: "permission denied to create replication slot"}, ErrReplicationPrivilege, "GRANT rds_replication TO app"},
		{&pgconn.PgError{Code: "55006", Message: `replication slot "s" is active for PID 42`}, ErrSlotActive, "PID 42"},
		{&pgconn.PgError{Code: "42704", Message: `replication slot "s" does not exist`}, ErrSlotNotFound, "setup-slot"},
	} {
		err := explainSlotError(tc.err, "s", FromConfig(cfg))
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: %v", tc.err.Code, err)
		}
	}
	if err := validSlotName("Bad-Name"); err == nil {
		t.Error("accepted Bad-Name")
	}
}

// TestExistingSlotRefusedByAllowList: a wal2json slot made before the
// upgrade cannot be read after it. Setting up and reading fail with the
// allow-list's fix, never a REPLICATION one; dropping it still works.
func TestExistingSlotRefusedByAllowList(t *testing.T) {
	ctx := context.Background()
	server, err := testenv.StartPostgres(testenv.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Stop()
	_, dsn, err := server.NewDatabase(ctx, "refused")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.FromURL(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.LogicalPlugin, cfg.SlotName = "wal2json", "refused_slot"
	db, err := connect.Open(ctx, connect.FromConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	if srv, err := connect.DetectServer(ctx, db); err != nil || !srv.HasAllowList {
		t.Skipf("no output_plugin_libraries on this server (%v)", err)
	}
	if _, _, err := ensureSlot(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{"ALTER SYSTEM SET output_plugin_libraries = 'pgoutput', 'test_decoding'", "SELECT pg_reload_conf()"} {
		if _, err := pg.PGX(db).Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := connect.Open(ctx, connect.FromConfig(cfg))
		if err != nil {
			t.Fatal(err)
		}
		srv, err := connect.DetectServer(ctx, c)
		c.Close(ctx)
		if err == nil && !srv.PluginAllowed("wal2json") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reload never took effect")
		}
	}
	want := "'pgoutput', 'test_decoding', 'wal2json'"
	if _, _, err := ensureSlot(ctx, cfg); !errors.Is(err, connect.ErrPluginNotAllowed) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "REPLICATION") {
		t.Errorf("EnsureSlot: %v", err)
	}
	// The server's own refusal at START_REPLICATION, read as such.
	_, err = openLog(ctx, FromConfig(cfg), logOptions{})
	if !errors.Is(err, connect.ErrPluginNotAllowed) || !strings.Contains(err.Error(), "(pgoutput, test_decoding) does not list wal2json") ||
		!strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "REPLICATION") {
		t.Errorf("OpenLog: %v", err)
	}
	if err := dropSlot(ctx, cfg); err != nil {
		t.Errorf("DropSlot of a refused slot: %v", err)
	}
}
