package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

func init() {
	register("demo", "start a private PostgreSQL with sample data and replicate it by every method", runDemo)
}

// demoMethods chooses a method per sample stream.
var demoMethods = map[string][2]string{
	"shop-shop-customers":    {"FULL_TABLE", ""},
	"shop-shop-products":     {"INCREMENTAL", "updated_at"},
	"shop-shop-orders":       {"LOG_BASED", ""},
	"shop-shop-Order Items":  {"LOG_BASED", ""},
	"shop-shop-events":       {"FULL_TABLE", ""},
	"shop-shop-page_views":   {"FULL_TABLE", ""},
	"shop-shop-select":       {"INCREMENTAL", "updated_at"},
	"shop-shop-order_totals": {"INCREMENTAL", "updated_at"},
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	dir := fs.String("dir", "./demo-out", "where the demo writes its config, catalog, output and bookmarks")
	rows := fs.Int("rows", 2000, "sample orders to generate")
	if err := fs.Parse(args); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(abs); err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return err
	}
	step := func(format string, a ...any) { fmt.Fprintf(stdout, "\n==> "+format+"\n", a...) }

	step("starting a private PostgreSQL 15 cluster (wal_level=logical, wal2json)")
	pg, err := testenv.StartPostgres(testenv.PostgresOptions{})
	if err != nil {
		return err
	}
	defer pg.Stop()
	fmt.Fprintf(stdout, "    listening on 127.0.0.1:%d\n", pg.Port)
	if err := testenv.Exec(ctx, pg.DSN(""), "CREATE DATABASE shop"); err != nil {
		return err
	}
	dsn := pg.DSN("shop")
	if err := testenv.Exec(ctx, dsn, testenv.SampleSchema+testenv.SampleData(*rows)); err != nil {
		return fmt.Errorf("load sample data: %w", err)
	}
	fmt.Fprintf(stdout, "    loaded the sample shop schema with %d orders\n", *rows)

	cfgPath := filepath.Join(abs, "config.json")
	catPath := filepath.Join(abs, "catalog.json")
	cfg := map[string]any{
		"host": "127.0.0.1", "port": pg.Port, "user": "postgres", "password": "", "dbname": "shop", "sslmode": "disable",
		"batch_rows": 500,
		"sink":       map[string]any{"type": "local", "path": filepath.Join(abs, "data")},
		"bookmarks":  map[string]any{"type": "file", "path": filepath.Join(abs, "bookmarks.json")},
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		return err
	}
	run := func(name string, args ...string) error {
		fmt.Fprintf(stdout, "\n$ pg2s3 %s %s\n", name, strings.Join(args, " "))
		return commands[name].run(ctx, args, stdout, stderr)
	}
	step("checking the server")
	if err := run("check", "--config", cfgPath); err != nil {
		fmt.Fprintf(stdout, "    (check reported problems: %v)\n", err)
	}
	step("discovering streams into %s", catPath)
	var catBuf bytes.Buffer
	if err := commands["discover"].run(ctx, []string{"--config", cfgPath}, &catBuf, stderr); err != nil {
		return err
	}
	cat, err := catalog.Parse(catBuf.Bytes())
	if err != nil {
		return err
	}
	for _, s := range cat.Streams {
		m, ok := demoMethods[s.TapStreamID]
		if !ok {
			continue
		}
		s.SetTableMetadata("selected", true)
		s.SetTableMetadata("replication-method", m[0])
		if m[1] != "" {
			s.SetTableMetadata("replication-key", m[1])
		}
		fmt.Fprintf(stdout, "    selected %-26s %s %s\n", s.TapStreamID, m[0], m[1])
	}
	out, err := cat.Marshal()
	if err != nil {
		return err
	}
	if err := os.WriteFile(catPath, out, 0o644); err != nil {
		return err
	}
	step("first run: full-table and incremental copies, then the log-based initial copies")
	if err := run("sync", "--config", cfgPath, "--catalog", catPath); err != nil {
		return err
	}
	step("changing data: new and updated orders, a deleted order line, updated products")
	if err := testenv.Exec(ctx, dsn, demoChanges); err != nil {
		return err
	}
	step("second run: incremental picks up updated products, the log brings the order changes")
	if err := run("sync", "--config", cfgPath, "--catalog", catPath); err != nil {
		return err
	}
	step("what was written under %s", filepath.Join(abs, "data"))
	if err := showTree(stdout, filepath.Join(abs, "data")); err != nil {
		return err
	}
	step("a change from the log (shop-shop-orders)")
	showLastChange(stdout, filepath.Join(abs, "data", "shop-shop-orders"))
	fmt.Fprintf(stdout, "\nDone. Config: %s\nCatalog: %s\nBookmarks: %s\nThe PostgreSQL cluster was stopped and removed.\n",
		cfgPath, catPath, filepath.Join(abs, "bookmarks.json"))
	return nil
}

const demoChanges = `
INSERT INTO shop.orders (customer_id, status, placed_at, total, details, tags)
  SELECT 1, 'new', now(), 99.99, '{"channel": "demo"}', ARRAY['demo'] FROM generate_series(1, 3);
UPDATE shop.orders SET status = 'shipped', updated_at = now() WHERE id IN (1, 2, 3);
DELETE FROM shop."Order Items" WHERE order_id = 4;
UPDATE shop.products SET stock = stock + 1, updated_at = now() WHERE id <= 5;
`

// showTree prints each stream directory with its objects and sizes.
func showTree(w io.Writer, root string) error {
	var lines []string
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		lines = append(lines, fmt.Sprintf("    %-72s %8d bytes", rel, fi.Size()))
		return nil
	})
	sort.Strings(lines)
	const most = 40
	for i, l := range lines {
		if i == most {
			fmt.Fprintf(w, "    ... and %d more\n", len(lines)-most)
			break
		}
		fmt.Fprintln(w, l)
	}
	return err
}

// showLastChange prints the last line of the newest log object.
func showLastChange(w io.Writer, dir string) {
	matches, _ := filepath.Glob(filepath.Join(dir, "v*", "wal-*.jsonl.gz"))
	if len(matches) == 0 {
		fmt.Fprintln(w, "    (no log objects)")
		return
	}
	sort.Strings(matches)
	f, err := os.Open(matches[len(matches)-1])
	if err != nil {
		return
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return
	}
	body, _ := io.ReadAll(zr)
	ls := strings.Split(strings.TrimSpace(string(body)), "\n")
	fmt.Fprintf(w, "    %s\n", ls[len(ls)-1])
}
