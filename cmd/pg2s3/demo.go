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
	"strings"

	"github.com/pg2s3/pg2s3/cmd/internal/cli"
	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/replicate"
	"github.com/pg2s3/pg2s3/shared/testenv"
	"github.com/pg2s3/pg2s3/shared/warehouse"
)

func init() {
	prog.Register("demo", "start a private PostgreSQL with sample data and replicate it by every method", runDemo)
}

// demoMethods chooses a method (and replication key) per sample stream.
var demoMethods = map[string]struct {
	method layout.Method
	key    string
}{
	"shop-shop-customers":    {layout.FullTable, ""},
	"shop-shop-products":     {layout.Incremental, "updated_at"},
	"shop-shop-orders":       {layout.LogBased, ""},
	"shop-shop-Order Items":  {layout.LogBased, ""},
	"shop-shop-events":       {layout.FullTable, ""},
	"shop-shop-page_views":   {layout.FullTable, ""},
	"shop-shop-select":       {layout.Incremental, "updated_at"},
	"shop-shop-order_totals": {layout.Incremental, "updated_at"},
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := prog.NewFlags("demo", stderr)
	dir := fs.String("dir", "./demo-out", "where the demo writes its config, catalog, output and bookmarks")
	rows := fs.Int("rows", 2000, "sample orders to generate")
	useAWS := fs.Bool("aws", false, "write to a local S3-compatible server with bookmarks in a local DynamoDB-compatible server")
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
	where := filepath.Join(abs, "data")
	if *useAWS {
		stop, err := startLocalAWS(cfg, stdout)
		if err != nil {
			return err
		}
		defer stop()
		where = "s3://demo/shop (local S3-compatible server)"
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		return err
	}
	run := func(name string, args ...string) error {
		fmt.Fprintf(stdout, "\n$ pg2s3 %s %s\n", name, strings.Join(args, " "))
		return prog.Command(name)(ctx, args, stdout, stderr)
	}
	if *useAWS {
		step("creating the DynamoDB table")
		if err := run("setup-stores", "--config", cfgPath); err != nil {
			return err
		}
	}
	step("checking the server")
	if err := run("check", "--config", cfgPath); err != nil {
		fmt.Fprintf(stdout, "    (check reported problems: %v)\n", err)
	}
	step("discovering streams into %s", catPath)
	var catBuf bytes.Buffer
	if err := prog.Command("discover")(ctx, []string{"--config", cfgPath}, &catBuf, stderr); err != nil {
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
		s.SetTableMetadata("replication-method", string(m.method))
		if m.key != "" {
			s.SetTableMetadata("replication-key", m.key)
		}
		fmt.Fprintf(stdout, "    selected %-26s %s %s\n", s.TapStreamID, m.method, m.key)
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
	a, err := openApp(ctx, cfgPath)
	if err != nil {
		return err
	}
	step("what was written to %s", where)
	if err := showTree(ctx, stdout, a.Stores.Sink); err != nil {
		return err
	}
	step("a change from the log (shop-shop-orders)")
	showLastChange(ctx, stdout, a.Stores.Sink, layout.StreamPrefix("shop-shop-orders"))
	step("is replication healthy?")
	if err := run("status", "--config", cfgPath, "--catalog", catPath); err != nil {
		return err
	}
	htmlPath := filepath.Join(*dir, "report.html")
	step("the run reports (extraction logs and loading reports), also as %s", htmlPath)
	if err := run("report", "--config", cfgPath); err != nil {
		return err
	}
	if err := run("report", "--config", cfgPath, "--html", htmlPath); err != nil {
		return err
	}
	step("the orders stream replayed as Singer messages (first lines)")
	if err := demoSinger(ctx, stdout, stderr, cfgPath); err != nil {
		return err
	}
	whDir := filepath.Join(abs, "iceberg")
	step("materializing the streams into Apache Iceberg tables under %s (SQL catalog in the private PostgreSQL)", whDir)
	if err := testenv.Exec(ctx, pg.DSN(""), "CREATE DATABASE iceberg_catalog"); err != nil {
		return err
	}
	catDSN := pg.DSN("iceberg_catalog")
	if err := run("materialize", "--config", cfgPath, "--catalog", catPath, "--warehouse", whDir, "--catalog-dsn", catDSN); err != nil {
		return err
	}
	ns := warehouse.AthenaName("shop") // the pipeline: the config names none, so its dbname
	ordersTable := warehouse.TableName("shop-shop-orders")
	step("the current orders table, read back from Iceberg (%s.%s, id <= 5)", ns, ordersTable)
	if err := showIcebergRows(ctx, stdout, stderr, catDSN, whDir, ns+"."+ordersTable); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nDone. Config: %s\nCatalog: %s\nReport: %s\n%s\n", cfgPath, catPath, htmlPath, a.Stores.Where)
	fmt.Fprintf(stdout, "Iceberg tables: namespace %s, files in %s; their SQL catalog (\"pg2s3\") was in the private server's database iceberg_catalog,\n"+
		"  removed with it. On your own pipeline, with a PostgreSQL database you keep for the catalog, each run applies what is new:\n"+
		"  pg2s3 materialize --config config.json --catalog catalog.json --warehouse DIR|s3://bucket/prefix --catalog-dsn postgres://...\n",
		ns, whDir)
	fmt.Fprintln(stdout, "The private servers were stopped and removed.")
	return nil
}

// demoIcebergColumns are the orders columns the demo prints.
var demoIcebergColumns = []string{"id", "customer_id", "status", "total", "updated_at", "_sdc_table_version"}

// showIcebergRows prints, indented, the rows with id <= 5 of a
// materialized table, read back by pg2s3-iceberg show (iceberg-go's scan,
// equality deletes applied), by id.
func showIcebergRows(ctx context.Context, stdout, stderr io.Writer, catDSN, warehouseDir, table string) error {
	var buf bytes.Buffer
	if err := runIceberg(ctx, icebergBinary, []string{"show", "--catalog-dsn", catDSN, "--warehouse", warehouseDir,
		"--columns", strings.Join(demoIcebergColumns, ","), "--key", "id", "--max-key", "5", table}, &buf, stderr); err != nil {
		return err
	}
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		if line != "" {
			fmt.Fprint(stdout, "    "+line)
		}
	}
	return nil
}

// demoSinger prints the first Singer messages of the orders stream, each
// cut to one screen line.
func demoSinger(ctx context.Context, stdout, stderr io.Writer, cfgPath string) error {
	fmt.Fprintf(stdout, "\n$ pg2s3 singer --config %s --stream shop-shop-orders | head -5\n", cfgPath)
	var buf bytes.Buffer
	if err := prog.Command("singer")(ctx, []string{"--config", cfgPath, "--stream", "shop-shop-orders"}, &buf, io.Discard); err != nil {
		return err
	}
	lines := strings.SplitN(buf.String(), "\n", 6)
	for _, l := range lines[:min(5, len(lines))] {
		if len(l) > 150 {
			l = l[:147] + "..."
		}
		fmt.Fprintln(stdout, l)
	}
	return nil
}

// startLocalAWS starts the S3- and DynamoDB-compatible servers and points
// cfg's stores at them.
func startLocalAWS(cfg map[string]any, stdout io.Writer) (func(), error) {
	s3, err := testenv.StartS3()
	if err != nil {
		return nil, err
	}
	dyn, err := testenv.StartDynamo()
	if err != nil {
		s3.Close()
		return nil, err
	}
	stop := func() { s3.Close(); dyn.Close() }
	if err := s3.CreateBucket("demo"); err != nil {
		stop()
		return nil, err
	}
	// The local servers take any credentials; the SDK's default chain
	// reads these.
	os.Setenv("AWS_ACCESS_KEY_ID", testenv.DummyAccessKeyID)
	os.Setenv("AWS_SECRET_ACCESS_KEY", testenv.DummySecretAccessKey)
	cfg["sink"] = map[string]any{"type": "s3", "bucket": "demo", "prefix": "shop", "region": testenv.DummyRegion, "endpoint": s3.Endpoint()}
	cfg["bookmarks"] = map[string]any{"type": "dynamodb", "table": "pg2s3-demo", "region": testenv.DummyRegion, "endpoint": dyn.Endpoint()}
	fmt.Fprintf(stdout, "    S3-compatible server (gofakes3) at %s, DynamoDB-compatible server (dynalite) at %s\n", s3.Endpoint(), dyn.Endpoint())
	return stop, nil
}

func openApp(ctx context.Context, cfgPath string) (*app.App, error) {
	cfg, err := cli.LoadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	return app.Open(ctx, cfg, nil)
}

const demoChanges = `
INSERT INTO shop.orders (customer_id, status, placed_at, total, details, tags)
  SELECT 1, 'new', now(), 99.99, '{"channel": "demo"}', ARRAY['demo'] FROM generate_series(1, 3);
UPDATE shop.orders SET status = 'shipped', updated_at = now() WHERE id IN (1, 2, 3);
DELETE FROM shop."Order Items" WHERE order_id = 4;
UPDATE shop.products SET stock = stock + 1, updated_at = now() WHERE id <= 5;
`

// showTree prints each object with its size, grouped by stream.
func showTree(ctx context.Context, w io.Writer, sink replicate.Sink) error {
	keys, err := sink.List(ctx, "")
	if err != nil {
		return err
	}
	const most = 40
	for i, k := range keys {
		if i == most {
			fmt.Fprintf(w, "    ... and %d more\n", len(keys)-most)
			break
		}
		fmt.Fprintf(w, "    %s\n", k)
	}
	return nil
}

// showLastChange prints the last line of the newest log object of a stream.
func showLastChange(ctx context.Context, w io.Writer, sink replicate.Sink, prefix string) {
	keys, _ := sink.List(ctx, prefix)
	var last string
	for _, k := range keys {
		if o, ok := layout.ParseObject(k); ok && o.Kind == layout.WALData {
			last = k
		}
	}
	if last == "" {
		fmt.Fprintln(w, "    (no log objects)")
		return
	}
	body, err := sink.Get(ctx, last)
	if err != nil {
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return
	}
	plain, _ := io.ReadAll(zr)
	ls := strings.Split(strings.TrimSpace(string(plain)), "\n")
	fmt.Fprintf(w, "    %s\n    %s\n", last, ls[len(ls)-1])
}
