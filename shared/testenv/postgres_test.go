package testenv

import (
	"context"
	"strings"
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

// An older minor release has no output_plugin_libraries: the private
// cluster must not name it, or the server refuses to start.
func TestAllowListConfDetection(t *testing.T) {
	older := "wal_level\tpostmaster\tWrite-Ahead Log / Settings\tENUM\treplica\t\t\tSets the level.\t\n" +
		"max_replication_slots\tpostmaster\tReplication / Sending Servers\tINTEGER\t10\t0\t262143\tSets the maximum.\t\n"
	if got := allowListConf(older); len(got) != 0 {
		t.Fatalf("server without the parameter: got %q, want nothing", got)
	}
	current := older + "output_plugin_libraries\tsuperuser\tReplication / Sending Servers\tSTRING\tpgoutput, test_decoding\t\t\tLists libraries.\t\n"
	got := allowListConf(current)
	if len(got) != 1 || got[0] != "output_plugin_libraries = 'pgoutput, test_decoding, wal2json'" {
		t.Fatalf("server with the parameter: got %q", got)
	}
	// A description that merely mentions the name is not the parameter.
	if got := allowListConf("x\tsuperuser\tg\tSTRING\t\t\t\tsee output_plugin_libraries\t\n"); len(got) != 0 {
		t.Fatalf("mention in a description: got %q", got)
	}
}

// A cluster started with KeepPluginAllowList refuses wal2json as a
// current minor release does by default (skipped on older servers).
func TestKeepPluginAllowList(t *testing.T) {
	pg, err := StartPostgres(PostgresOptions{KeepPluginAllowList: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_settings WHERE name = 'output_plugin_libraries'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Skip("this server has no output_plugin_libraries")
	}
	_, err = conn.Exec(ctx, "SELECT pg_create_logical_replication_slot('t_w2j', 'wal2json', true)")
	if err == nil || !strings.Contains(err.Error(), "may not be used as an output plugin") {
		t.Fatalf("wal2json slot on a default allow-list: %v", err)
	}
}
