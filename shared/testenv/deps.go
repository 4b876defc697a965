package testenv

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
)

// Linked returns the packages pkg links (go list -deps, a path relative to
// the current directory) whose import path starts with one of prefixes:
// for tests that keep heavy modules out of a binary.
func Linked(pkg string, prefixes ...string) ([]string, error) {
	out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go list -deps %s: %v\n%s", pkg, err, out)
	}
	var linked []string
	for _, p := range strings.Fields(string(out)) {
		if slices.ContainsFunc(prefixes, func(prefix string) bool { return strings.HasPrefix(p, prefix) }) {
			linked = append(linked, p)
		}
	}
	return linked, nil
}
