package warehouse_test

import (
	"os"
	"testing"

	"github.com/pg2s3/pg2s3/shared/testenv"
)

// testPG is the package's private cluster (wal_level logical), started
// once for the catalog and loader tests.
var testPG *testenv.Postgres

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithPostgres(m, &testPG, testenv.PostgresOptions{}))
}
