package encode

import "testing"

// isNumber accepts exactly JSON's number grammar.
func TestIsNumber(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "-0": true, "12": true, "-12.50": true, "1e10": true, "1.5E-3": true, "2e+7": true,
		"123456789012345678901234567890.000000001": true,
		"": false, "-": false, "01": false, "1.": false, ".5": false, "1e": false, "1e+": false, "+1": false,
		"1.2.3": false, "NaN": false, "1 ": false, "0x10": false,
	} {
		if got := isNumber([]byte(s)); got != want {
			t.Errorf("isNumber(%q) = %v, want %v", s, got, want)
		}
	}
}
