package functions_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestIcebergStaysInItsOwnBootstrap: Arrow and Iceberg are linked into the
// materialize function only; the sync, wal, reset and discover bootstraps
// stay small and start fast without them.
func TestIcebergStaysInItsOwnBootstrap(t *testing.T) {
	for _, fn := range []string{"sync", "wal", "reset", "discover", "materialize"} {
		out, err := exec.Command("go", "list", "-deps", "./"+fn).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps ./%s: %v\n%s", fn, err, out)
		}
		var heavy []string
		for _, p := range strings.Fields(string(out)) {
			if strings.Contains(p, "apache/arrow") || strings.Contains(p, "apache/iceberg") {
				heavy = append(heavy, p)
			}
		}
		if fn == "materialize" && len(heavy) == 0 {
			t.Errorf("the materialize function links no Iceberg: the check looks at the wrong names")
		}
		if fn != "materialize" && len(heavy) > 0 {
			t.Errorf("the %s bootstrap links %d Arrow/Iceberg packages, e.g. %s", fn, len(heavy), heavy[0])
		}
	}
}
