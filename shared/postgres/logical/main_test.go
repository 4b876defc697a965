package logical

import (
	"context"
	"os"
	"testing"

	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pgtest"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// logDB creates a fresh database on the package's test server and returns
// its config (slot and publication named after it) and a query connection
// (closed at the end of the test).
func logDB(t *testing.T, plugin string) (*config.Config, *connect.Conn) {
	t.Helper()
	cfg := pgtest.NewDB(t, testPG, "log", "")
	cfg.LogicalPlugin = plugin
	return cfg, pgtest.Open(t, cfg)
}

func mustExec(t *testing.T, conn *connect.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := pg.PGX(conn).Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// mustOpenLog opens cfg's slot, closed at the end of the test.
func mustOpenLog(t *testing.T, cfg *config.Config, opt logOptions) *logReader {
	t.Helper()
	r, err := openLog(context.Background(), FromConfig(cfg), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

// ensureSlot ensures cfg's slot as cfg's user, over a connection of its
// own.
func ensureSlot(ctx context.Context, cfg *config.Config) (SlotInfo, bool, error) {
	conn, err := connect.Open(ctx, connect.FromConfig(cfg))
	if err != nil {
		return SlotInfo{}, false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return New(conn, FromConfig(cfg)).ensureSlot(ctx)
}

// dropSlot drops cfg's slot as cfg's user, over a connection of its own.
func dropSlot(ctx context.Context, cfg *config.Config) error {
	conn, err := connect.Open(ctx, connect.FromConfig(cfg))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return New(conn, FromConfig(cfg)).DropSlot(ctx)
}

// testPG is the package's private cluster, started once by TestMain.
var testPG *testenv.Postgres

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithPostgres(m, &testPG, testenv.PostgresOptions{}))
}
