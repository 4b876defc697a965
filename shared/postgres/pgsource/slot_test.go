package pgsource

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pg2s3/pg2s3/shared/config"
)

func TestEnsureSlot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, conn := logDB(t, "pgoutput")
	if err := EnsurePublication(ctx, conn, cfg.Publication, true, nil); err != nil {
		t.Fatal(err)
	}
	info, created, err := EnsureSlot(ctx, cfg)
	if err != nil || !created || !info.Exists || info.Plugin != "pgoutput" || info.ConfirmedFlushLSN == 0 || info.Database != cfg.DBName {
		t.Fatalf("create: %+v created=%v err=%v", info, created, err)
	}
	t.Cleanup(func() { DropSlot(context.Background(), cfg, cfg.SlotName) })
	info, created, err = EnsureSlot(ctx, cfg)
	if err != nil || created || !info.Exists {
		t.Fatalf("again: %+v created=%v err=%v", info, created, err)
	}
	mustExec(t, conn, "CREATE TABLE t AS SELECT generate_series(1, 1000) AS i")
	if info, _ = GetSlot(ctx, conn, cfg.SlotName); info.RetainedBytes <= 0 || info.WALStatus != "reserved" {
		t.Fatalf("retained: %+v", info)
	}

	w2j := *cfg
	w2j.LogicalPlugin = "wal2json"
	_, _, err = EnsureSlot(ctx, &w2j)
	if !errors.Is(err, ErrSlotPlugin) || !strings.Contains(err.Error(), "reset --slot") {
		t.Fatalf("wrong plugin: %v", err)
	}
	if _, err := OpenLog(ctx, &w2j, LogOptions{}); !errors.Is(err, ErrSlotPlugin) {
		t.Fatalf("open with wrong plugin: %v", err)
	}

	r := openLog(t, cfg, LogOptions{})
	info, _, err = EnsureSlot(ctx, cfg)
	if !errors.Is(err, ErrSlotActive) || !strings.Contains(err.Error(), "pid ") {
		t.Fatalf("active elsewhere: %+v %v", info, err)
	}
	if err := DropSlot(ctx, cfg, cfg.SlotName); !errors.Is(err, ErrSlotActive) {
		t.Fatalf("drop active: %v", err)
	}
	r.Close(ctx)
	if err := DropSlot(ctx, cfg, cfg.SlotName); err != nil {
		t.Fatal(err)
	}
	if err := DropSlot(ctx, cfg, cfg.SlotName); err != nil {
		t.Fatalf("drop missing: %v", err)
	}
	if info, _ := GetSlot(ctx, conn, cfg.SlotName); info.Exists {
		t.Fatalf("still there: %+v", info)
	}
	if _, err := OpenLog(ctx, cfg, LogOptions{}); !errors.Is(err, ErrSlotNotFound) {
		t.Fatalf("open missing: %v", err)
	}
}

func TestEnsureSlotWithoutReplicationPrivilege(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, conn := logDB(t, "pgoutput")
	role := "norepl_" + cfg.DBName
	mustExec(t, conn, "CREATE ROLE "+role+" LOGIN")
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP ROLE "+role) })
	user := *cfg
	user.User = role
	_, _, err := EnsureSlot(ctx, &user)
	if !errors.Is(err, ErrReplicationPrivilege) || !strings.Contains(err.Error(), "ALTER ROLE "+role+" REPLICATION") {
		t.Fatalf("no privilege: %v", err)
	}
	mustExec(t, conn, "ALTER ROLE "+role+" REPLICATION")
	info, created, err := EnsureSlot(ctx, &user)
	if err != nil || !created {
		t.Fatalf("with REPLICATION: %+v %v", info, err)
	}
	defer DropSlot(ctx, &user, user.SlotName)
	uconn, err := Connect(ctx, &user)
	if err != nil {
		t.Fatal(err)
	}
	defer uconn.Close(ctx)
	if _, err := Heartbeat(ctx, uconn); err != nil {
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
		err := explainSlotError(tc.err, "s", cfg)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: %v", tc.err.Code, err)
		}
	}
	if err := validSlotName("Bad-Name"); err == nil {
		t.Error("accepted Bad-Name")
	}
}
