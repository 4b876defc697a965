package functions_test

import (
	"testing"

	"github.com/pg2s3/pg2s3/shared/testenv"
)

// TestIcebergStaysInItsOwnBootstrap: Arrow and Iceberg are linked into the
// materialize function only; the sync, wal, reset and discover bootstraps
// stay small and start fast without them.
func TestIcebergStaysInItsOwnBootstrap(t *testing.T) {
	for _, fn := range []string{"sync", "wal", "reset", "discover", "materialize"} {
		heavy, err := testenv.Linked("./"+fn, "github.com/apache/arrow", "github.com/apache/iceberg-go")
		if err != nil {
			t.Fatal(err)
		}
		if fn == "materialize" && len(heavy) == 0 {
			t.Errorf("the materialize function links no Iceberg: the check looks at the wrong names")
		}
		if fn != "materialize" && len(heavy) > 0 {
			t.Errorf("the %s bootstrap links %d Arrow/Iceberg packages, e.g. %s", fn, len(heavy), heavy[0])
		}
	}
}
