package record

import (
	"testing"

	"github.com/pg2s3/pg2s3/shared/layout"
)

// TestDeprecatedMethodsAreLayouts keeps the constants shared/pgsource
// still uses equal to the one definition.
func TestDeprecatedMethodsAreLayouts(t *testing.T) {
	if FullTable != layout.FullTable || Incremental != layout.Incremental || LogBased != layout.LogBased {
		t.Fatal("record's method constants differ from layout's")
	}
}
