package testenv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A standby replays what the primary commits, waits for it can fail, and
// Stop leaves nothing running or on disk.
func TestStandbyFollowsPrimary(t *testing.T) {
	pg, err := StartPostgres(PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	ctx := context.Background()
	if err := Exec(ctx, pg.DSN(""), "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10)"); err != nil {
		t.Fatal(err)
	}
	sb, err := pg.StartStandby()
	if errors.Is(err, ErrNotPrivate) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Stop()
	if sb.Port == pg.Port || sb.DataDir == pg.DataDir {
		t.Fatalf("the standby shares the primary's port or files: %d %s", sb.Port, sb.DataDir)
	}
	count := func() (n int, recovery bool) {
		t.Helper()
		if err := QueryValue(ctx, sb.DSN(""), "SELECT count(*) FROM t", &n); err != nil {
			t.Fatal(err)
		}
		if err := QueryValue(ctx, sb.DSN(""), "SELECT pg_is_in_recovery()", &recovery); err != nil {
			t.Fatal(err)
		}
		return n, recovery
	}
	if n, recovery := count(); n != 10 || !recovery {
		t.Fatalf("standby after the base backup: %d rows, in recovery %v", n, recovery)
	}
	if err := Exec(ctx, pg.DSN(""), "INSERT INTO t SELECT generate_series(11, 25)"); err != nil {
		t.Fatal(err)
	}
	if err := pg.WaitReplayed(ctx, sb, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if n, _ := count(); n != 25 {
		t.Fatalf("standby after catch-up: %d rows, want 25", n)
	}

	// With replay paused, the standby cannot catch up: the wait says so.
	if err := Exec(ctx, sb.DSN(""), "SELECT pg_wal_replay_pause()"); err != nil {
		t.Fatal(err)
	}
	if err := Exec(ctx, pg.DSN(""), "INSERT INTO t VALUES (26)"); err != nil {
		t.Fatal(err)
	}
	if err := pg.WaitReplayed(ctx, sb, time.Second); err == nil || !strings.Contains(err.Error(), "standby replayed up to") {
		t.Fatalf("wait with replay paused: %v", err)
	}
	if n, _ := count(); n != 25 {
		t.Fatalf("paused standby: %d rows, want 25", n)
	}

	sb.Stop()
	if _, err := os.Stat(filepath.Dir(sb.DataDir)); !os.IsNotExist(err) {
		t.Errorf("the standby's directory is still there: %v", err)
	}
	if err := Exec(ctx, sb.DSN(""), "SELECT 1"); err == nil {
		t.Error("the standby still accepts connections after Stop")
	}
}
