package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo runs pg2s3 demo end to end (its own private PostgreSQL) and
// checks how it ends: every selected stream materialized into Iceberg
// and caught up, and the orders rows read back from the Iceberg table
// show the demo's changes (orders 1-3 updated to shipped, through the log).
// Both Iceberg steps run the pg2s3-iceberg this package's tests build.
func TestDemo(t *testing.T) {
	icebergBin(t)
	dir := filepath.Join(t.TempDir(), "demo")
	code, out, errOut := run("demo", "--dir", dir, "--rows", "40")
	if code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, errOut)
	}
	_, afterMat, ok := strings.Cut(out, "$ pg2s3 materialize ")
	if !ok {
		t.Fatalf("no materialize run in the demo's output:\n%s", out)
	}
	results := map[string]materializeResult{}
	for _, l := range strings.Split(afterMat, "\n")[1:] {
		if !strings.HasPrefix(l, "{") {
			break
		}
		var r materializeResult
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if !r.CaughtUp || r.Commits == 0 {
			t.Errorf("%s not materialized: %s", r.Stream, l)
		}
		results[r.Stream] = r
	}
	if len(results) != len(demoMethods) {
		t.Errorf("materialized %d streams, the demo selects %d", len(results), len(demoMethods))
	}
	// 40 copied orders, then 3 inserted and 3 updated through the log.
	if r := results["shop-shop-orders"]; r.Changes != 46 || r.Replaced == 0 {
		t.Errorf("orders: %+v", r)
	}
	_, shown, ok := strings.Cut(out, "read back from Iceberg (shop.shop_shop_orders, id <= 5)\n")
	if !ok {
		t.Fatalf("no Iceberg rows in the demo's output:\n%s", out)
	}
	lines := strings.Split(shown, "\n")
	if got := strings.Fields(lines[0]); strings.Join(got, " ") != strings.Join(demoIcebergColumns, " ") {
		t.Fatalf("header %q", lines[0])
	}
	for i, l := range lines[1:6] {
		f := strings.Fields(l)
		if len(f) != len(demoIcebergColumns) {
			t.Fatalf("row %q", l)
		}
		id, status := f[0], f[2]
		if want := string(rune('1' + i)); id != want {
			t.Errorf("row %d has id %s, want %s (by id)", i, id, want)
		}
		if shipped := status == "shipped"; shipped != (i < 3) {
			t.Errorf("order %s is %s: the demo ships orders 1-3 (copied as paid, shipped, delivered), 4 and 5 stay cancelled and new", id, status)
		}
	}
	if strings.TrimSpace(lines[6]) != "" {
		t.Errorf("more than 5 rows with id <= 5: %q", lines[6])
	}
	if !strings.Contains(out, "files in "+filepath.Join(dir, "iceberg")) {
		t.Errorf("the demo does not say where the tables are")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "iceberg", "shop.db", "shop_shop_orders", "metadata", "*.metadata.json")); len(m) == 0 {
		t.Errorf("no orders table metadata under %s", filepath.Join(dir, "iceberg"))
	}
}
