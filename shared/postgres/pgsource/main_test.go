package pgsource

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pgtest"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// testPG is the package's private cluster, started once by TestMain.
var testPG *testenv.Postgres

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithPostgres(m, &testPG, testenv.PostgresOptions{}))
}

// discoverDB creates a database, runs setup in it and returns its config
// and a query connection (closed at the end of the test).
func discoverDB(t *testing.T, prefix, setup string) (*config.Config, *pgx.Conn) {
	t.Helper()
	cfg := pgtest.NewDB(t, testPG, prefix, setup)
	conn, err := queryConn(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return cfg, conn
}

// queryConn opens a query connection with cfg's settings, for a test to
// read and write around the code under test.
func queryConn(ctx context.Context, cfg *config.Config) (*pgx.Conn, error) {
	db, err := connect.Open(ctx, connect.FromConfig(cfg))
	if err != nil {
		return nil, err
	}
	return pg.PGX(db), nil
}
