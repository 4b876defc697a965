package testenv

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestPostgresLogicalAndWal2json(t *testing.T) {
	pg, err := StartPostgres(PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	ctx := context.Background()
	_, dsn, err := pg.NewDatabase(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var level string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&level); err != nil || level != "logical" {
		t.Fatalf("wal_level = %q, %v", level, err)
	}
	var lsn string
	if err := conn.QueryRow(ctx, "SELECT lsn::text FROM pg_create_logical_replication_slot('t_w2j', 'wal2json')").Scan(&lsn); err != nil {
		t.Fatalf("wal2json slot: %v", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_drop_replication_slot('t_w2j')"); err != nil {
		t.Fatal(err)
	}
}
