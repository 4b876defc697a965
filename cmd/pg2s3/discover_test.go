package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// testPG is the package's private cluster, started once by TestMain. Role
// pw_user authenticates with a password (scram); everyone else is trusted.
var testPG *testenv.Postgres

func TestMain(m *testing.M) {
	code := testenv.RunWithPostgres(m, &testPG, testenv.PostgresOptions{HBA: "local all all trust\n" +
		"host all pw_user 127.0.0.1/32 scram-sha-256\n" +
		"host all all 127.0.0.1/32 trust\n" +
		"host replication all 127.0.0.1/32 trust\n"})
	removeIcebergBin()
	os.Exit(code)
}

// cliDB creates a database with setup and returns its name and a config
// file for it; overrides replace or add config keys (nil deletes one).
func cliDB(t *testing.T, prefix, setup string) (string, func(overrides map[string]any) string) {
	t.Helper()
	ctx := context.Background()
	name, dsn, err := testPG.NewDatabase(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if setup != "" {
		if err := testenv.Exec(ctx, dsn, setup); err != nil {
			t.Fatalf("setup: %v", err)
		}
	}
	cfg, err := config.FromURL(dsn)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n := 0
	return name, func(overrides map[string]any) string {
		m := map[string]any{"host": cfg.Host, "port": cfg.Port, "user": cfg.User, "dbname": cfg.DBName, "sslmode": "disable",
			"default_replication_method": "FULL_TABLE"}
		for k, v := range overrides {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		b, _ := json.Marshal(m)
		n++
		path := filepath.Join(dir, fmt.Sprintf("config%d.json", n))
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
}

// selectStreams discovers cfg's database and writes to dir a catalog that
// selects the tables named in methods, each with its method and, after a
// colon, replication key ("INCREMENTAL:updated_at"); it returns the
// catalog's path.
func selectStreams(t *testing.T, cfg, dir string, methods map[string]string) string {
	t.Helper()
	code, out, errOut := run("discover", "--config", cfg)
	if code != 0 {
		t.Fatalf("discover: %s", errOut)
	}
	cat, err := catalog.Parse([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range cat.Streams {
		m, ok := methods[s.TableName]
		if !ok {
			continue
		}
		method, key, _ := strings.Cut(m, ":")
		s.SetTableMetadata("selected", true)
		s.SetTableMetadata("replication-method", method)
		if key != "" {
			s.SetTableMetadata("replication-key", key)
		}
	}
	b, _ := cat.Marshal()
	path := filepath.Join(dir, "catalog.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func run(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := prog.Run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestDiscoverCommand(t *testing.T) {
	_, configFor := cliDB(t, "cli_discover", testenv.SampleSchema+testenv.SampleData(30))
	cfgPath := configFor(map[string]any{"filter_schemas": "shop"})
	code, stdout, stderr := run("discover", "--config", cfgPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	cat, err := catalog.Parse([]byte(stdout))
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Streams) != 9 || cat.Streams[0].TableName != "Order Items" {
		t.Errorf("%d streams, first %q", len(cat.Streams), cat.Streams[0].TableName)
	}
	out := filepath.Join(t.TempDir(), "catalog.json")
	if code, _, stderr := run("discover", "--config", cfgPath, "--out", out); code != 0 || !strings.Contains(stderr, "wrote 9 streams") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil || string(b) != stdout {
		t.Errorf("--out file differs from stdout (%v)", err)
	}
}

func TestDiscoverBadInput(t *testing.T) {
	db, configFor := cliDB(t, "cli_bad", `
CREATE TABLE t (id int PRIMARY KEY);
DROP ROLE IF EXISTS pw_user; CREATE ROLE pw_user LOGIN PASSWORD 'right-horse-battery';
DROP ROLE IF EXISTS no_tables; CREATE ROLE no_tables LOGIN;
DROP ROLE IF EXISTS no_connect; CREATE ROLE no_connect LOGIN;`)
	if err := testenv.Exec(context.Background(), testPG.DSN(db), fmt.Sprintf("REVOKE CONNECT ON DATABASE %s FROM PUBLIC; GRANT CONNECT ON DATABASE %s TO no_tables, pw_user", db, db)); err != nil {
		t.Fatal(err)
	}
	free, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	const secret = "wrong-Secret-p4ss"
	cases := []struct {
		name      string
		overrides map[string]any
		want      string
	}{
		{"unknown key", map[string]any{"colour": "blue"}, "colour: unknown key"},
		{"port out of range", map[string]any{"port": "99999"}, "port: 99999 is not a TCP port"},
		{"wrong port", map[string]any{"port": free, "password": secret}, "connection refused: check host and port"},
		{"wrong password", map[string]any{"user": "pw_user", "password": secret}, "password authentication failed: check user and password"},
		{"missing database", map[string]any{"dbname": "no_such_database", "password": secret}, "database does not exist"},
		{"no connect privilege", map[string]any{"user": "no_connect", "password": secret}, "permission denied"},
		{"no table privileges", map[string]any{"user": "no_tables", "password": secret}, "may read none of the 1 tables"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run("discover", "--config", configFor(tc.overrides))
			if code == 0 || stdout != "" {
				t.Fatalf("exit %d, stdout %q", code, stdout)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q does not say %q", stderr, tc.want)
			}
			if strings.Count(stderr, "\n") != 1 {
				t.Errorf("want one line, got %q", stderr)
			}
			if strings.Contains(stderr, secret) {
				t.Errorf("password printed: %q", stderr)
			}
		})
	}
	// The right password works.
	if code, _, stderr := run("discover", "--config", configFor(map[string]any{"user": "pw_user", "password": "right-horse-battery"})); code == 0 || !strings.Contains(stderr, "may read none") {
		t.Errorf("right password: exit %d %s", code, stderr)
	}
	if code, _, _ := run("discover", "--config", configFor(nil), "extra"); code != 2 {
		t.Errorf("extra argument: exit %d, want 2", code)
	}
}

// TestDiscoverKeepsSelections: discover --out over an edited catalog keeps
// its selections and names what is new; --replace starts over.
func TestDiscoverKeepsSelections(t *testing.T) {
	db, config := cliDB(t, "cli_rediscover", "CREATE TABLE items (id int PRIMARY KEY, name text, updated_at timestamptz)")
	cfg, dir := config(nil), t.TempDir()
	catPath := selectStreams(t, cfg, dir, map[string]string{"items": "INCREMENTAL:updated_at"})
	if err := testenv.Exec(context.Background(), testPG.DSN(db), "ALTER TABLE items ADD COLUMN price numeric; CREATE TABLE later (id int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run("discover", "--config", cfg, "--out", catPath)
	if code != 0 || !strings.Contains(stderr, "selections kept") || !strings.Contains(stderr, db+"-public-later") || !strings.Contains(stderr, db+"-public-items.price") {
		t.Fatalf("rediscover: %d %s", code, stderr)
	}
	selected := func() []string {
		cat, err := catalog.Load(catPath)
		if err != nil {
			t.Fatal(err)
		}
		sels, err := cat.Selections("")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range sels {
			out = append(out, s.StreamID+" "+string(s.Method)+" "+s.ReplicationKey+" "+strings.Join(s.Columns, ","))
		}
		return out
	}
	if got := selected(); len(got) != 1 || got[0] != db+"-public-items INCREMENTAL updated_at id,name,updated_at,price" {
		t.Fatalf("selections after rediscover: %q", got)
	}
	if code, _, stderr := run("discover", "--config", cfg, "--out", catPath, "--replace"); code != 0 || !strings.Contains(stderr, "wrote 2 streams") || len(selected()) != 0 {
		t.Fatalf("discover --replace: %d %s %q", code, stderr, selected())
	}
}
