package preflight

import (
	"os"
	"testing"

	"github.com/pg2s3/pg2s3/shared/testenv"
)

// testPG is the package's private cluster, started once by TestMain.
var testPG *testenv.Postgres

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithPostgres(m, &testPG, testenv.PostgresOptions{}))
}
