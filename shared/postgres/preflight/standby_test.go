package preflight

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pgtest"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// startReplica starts a private primary and a streaming standby of it
// (the package's shared cluster is not copied: it holds every test's
// database) and returns configs for database db on each.
func startReplica(t *testing.T, db string) (primary, standby *config.Config, sb *testenv.Postgres) {
	t.Helper()
	if os.Getenv("PG2S3_TEST_DSN") != "" {
		t.Skip(testenv.ErrNotPrivate)
	}
	pg, err := testenv.StartPostgres(testenv.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	ctx := context.Background()
	if err := testenv.Exec(ctx, pg.DSN(""), "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	sb, err = pg.StartStandby()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Stop)
	if primary, err = config.FromURL(pg.DSN(db)); err != nil {
		t.Fatal(err)
	}
	if standby, err = config.FromURL(sb.DSN(db)); err != nil {
		t.Fatal(err)
	}
	return primary, standby, sb
}

// waitSetting waits until a new connection to dsn sees name = want
// (pg_reload_conf only signals the postmaster).
func waitSetting(t *testing.T, dsn, name, want string) {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		rows, err := testenv.RowsByID(ctx, dsn, fmt.Sprintf("SELECT 1 AS id, current_setting('%s') AS v", name))
		if err != nil {
			t.Fatal(err)
		}
		if rows["1"]["v"] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %v, not %s, after pg_reload_conf()", name, rows["1"]["v"], want)
		}
	}
}

// TestCheckOnAStandby runs check against a real streaming replica: the
// standby line fails with the fix (before 16), the settings that decide whether
// replay cancels a long copy show their real values, and tuning them
// with ALTER SYSTEM on the standby turns them to PASS, for check on the
// standby and for the secondary lines of a use_secondary config.
func TestCheckOnAStandby(t *testing.T) {
	ctx := context.Background()
	primary, standby, sb := startReplica(t, "shop")
	secondary := *primary
	secondary.UseSecondary, secondary.SecondaryHost, secondary.SecondaryPort = true, standby.Host, standby.Port

	got := byName(Check(ctx, FromConfig(standby), nil, nil))
	if r := got["standby"]; r.OK || r.Detail != "server is a standby: pg2s3 reads the log on the primary (a drain writes its end marker there)" ||
		!strings.Contains(r.Fix, "set host to the primary") || !strings.Contains(r.Fix, "use_secondary") {
		t.Errorf("standby: %+v", r)
	}
	untuned := map[string]string{
		"hot_standby_feedback":        "hot_standby_feedback = off",
		"max_standby_streaming_delay": "max_standby_streaming_delay = 30s (8-12 h recommended during the first copy)",
		"max_standby_archive_delay":   "max_standby_archive_delay = 30s (8-12 h recommended during the first copy)",
	}
	for name, detail := range untuned {
		if r := got[name]; r.OK || r.Detail != detail || !strings.Contains(r.Fix, "ALTER SYSTEM SET "+name) {
			t.Errorf("%s on a default standby: %+v", name, r)
		}
	}
	sec := byName(CheckSecondary(ctx, FromConfig(&secondary)))
	if r := sec["secondary standby"]; !r.OK || !strings.Contains(r.Detail, "secondary: server is a standby") {
		t.Errorf("secondary standby: %+v", r)
	}
	for name, detail := range untuned {
		if r := sec["secondary "+name]; r.OK || r.Detail != "secondary: "+detail {
			t.Errorf("secondary %s on a default standby: %+v", name, r)
		}
	}

	for _, sql := range []string{"ALTER SYSTEM SET hot_standby_feedback = on", "ALTER SYSTEM SET max_standby_streaming_delay = '12h'",
		"ALTER SYSTEM SET max_standby_archive_delay = -1", "SELECT pg_reload_conf()"} {
		if err := testenv.Exec(ctx, sb.DSN(""), sql); err != nil {
			t.Fatal(err)
		}
	}
	waitSetting(t, sb.DSN(""), "max_standby_archive_delay", "-1")
	tuned := map[string]string{
		"hot_standby_feedback":        "hot_standby_feedback = on",
		"max_standby_streaming_delay": "max_standby_streaming_delay = 12h0m0s (8-12 h recommended during the first copy)",
		"max_standby_archive_delay":   "max_standby_archive_delay = -1 (wait forever) (8-12 h recommended during the first copy)",
	}
	got = byName(Check(ctx, FromConfig(standby), nil, nil))
	sec = byName(CheckSecondary(ctx, FromConfig(&secondary)))
	for name, detail := range tuned {
		if r := got[name]; !r.OK || r.Detail != detail {
			t.Errorf("%s on a tuned standby: %+v", name, r)
		}
		if r := sec["secondary "+name]; !r.OK || r.Detail != "secondary: "+detail {
			t.Errorf("secondary %s on a tuned standby: %+v", name, r)
		}
	}

	// The primary has no standby settings to tune.
	got = byName(Check(ctx, FromConfig(primary), nil, nil))
	if r := got["standby"]; !r.OK || r.Detail != "server is a primary (not in recovery)" {
		t.Errorf("standby on the primary: %+v", r)
	}
	if _, ok := got["hot_standby_feedback"]; ok {
		t.Error("check on the primary reports hot_standby_feedback")
	}
}

// TestCheckSecondaryFailures: a secondary that refuses the connection
// fails its line with the fix; one that is not in recovery passes without
// standby settings; no use_secondary, no lines.
func TestCheckSecondaryFailures(t *testing.T) {
	cfg := pgtest.NewDB(t, testPG, "checksec", "")
	if r := CheckSecondary(context.Background(), FromConfig(cfg)); r != nil {
		t.Fatalf("without use_secondary: %+v", r)
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	down := *cfg
	down.UseSecondary, down.SecondaryHost, down.SecondaryPort = true, "127.0.0.1", port
	down.Password = "hunter2-secret"
	r := CheckSecondary(context.Background(), FromConfig(&down))
	if len(r) != 1 || r[0].Name != "secondary connect" || r[0].OK || !strings.Contains(r[0].Detail, fmt.Sprintf("secondary: connect to 127.0.0.1:%d", port)) ||
		!strings.Contains(r[0].Fix, "check host and port") || strings.Contains(r[0].Detail+r[0].Fix, "hunter2") {
		t.Fatalf("secondary down: %+v", r)
	}
	self := *cfg
	self.UseSecondary, self.SecondaryHost, self.SecondaryPort = true, cfg.Host, cfg.Port
	got := byName(CheckSecondary(context.Background(), FromConfig(&self)))
	if r := got["secondary standby"]; !r.OK || !strings.Contains(r.Detail, "not in recovery") || len(got) != 2 {
		t.Fatalf("a secondary that is a primary: %+v", got)
	}
}
