package connect

import (
	"context"
	"os"
	"testing"

	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// testPG is the package's private cluster, started once by TestMain.
var testPG *testenv.Postgres

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithPostgres(m, &testPG, testenv.PostgresOptions{}))
}

// newDB creates a database on the package's cluster and returns its
// config.
func newDB(t *testing.T, prefix string) *config.Config {
	t.Helper()
	if testPG == nil {
		t.Fatal("TestMain did not start the test PostgreSQL server")
	}
	_, dsn, err := testPG.NewDatabase(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.FromURL(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// openDB opens a query connection to a new database, closed at the end
// of the test.
func openDB(t *testing.T, prefix string) *Conn {
	t.Helper()
	conn, err := Open(context.Background(), FromConfig(newDB(t, prefix)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
