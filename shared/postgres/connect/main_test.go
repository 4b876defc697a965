package connect

import (
	"context"
	"os"
	"testing"

	"github.com/pg2s3/pg2s3/shared/postgres/internal/pgtest"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// testPG is the package's private cluster, started once by TestMain.
var testPG *testenv.Postgres

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithPostgres(m, &testPG, testenv.PostgresOptions{}))
}

// openDB opens a query connection to a new database, closed at the end
// of the test.
func openDB(t *testing.T, prefix string) *Conn {
	t.Helper()
	conn, err := Open(context.Background(), FromConfig(pgtest.NewDB(t, testPG, prefix, "")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
