package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/layout"
)

func TestParseTapPostgresConfig(t *testing.T) {
	// Values as Stitch and tap-postgres users have them: strings for numbers
	// and booleans, comma lists.
	c, err := Parse([]byte(`{"host": "db", "port": "5433", "user": "u", "password": "pw", "dbname": "shop",
		"ssl": "true", "filter_schemas": "public, sales", "itersize": "500", "debug_lsn": "true",
		"logical_poll_total_seconds": 0, "wal2json_message_format": "1", "default_replication_method": "log_based",
		"max_run_seconds": "60", "break_at_end_lsn": true}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 5433 || c.SSLMode != "require" || len(c.FilterSchemas) != 2 || c.FilterSchemas[1] != "sales" ||
		c.BatchRows != 500 || c.IdleTimeout.Seconds() != 1800 || c.DefaultReplicationMethod != "LOG_BASED" ||
		c.MaxRunDuration.Seconds() != 60 || c.SlotName != "pg2s3_shop" || c.Pipeline != "shop" {
		t.Fatalf("parsed: %+v", *c)
	}
	if c.Sink.Type != "local" || c.Bookmarks.Type != "file" {
		t.Fatalf("defaults: %+v %+v", c.Sink, c.Bookmarks)
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := Parse([]byte(`{"host": "", "port": "abc", "user": "u", "dbname": "d", "sslmode": "maybe",
		"logical_plugin": "decoderbufs", "sink": {"type": "s3"}, "bookmarks": {"type": "dynamodb", "tabel": "x"},
		"passwrd": "oops", "slot_name": "Bad-Name"}`))
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"host: required", "port: expected a whole number", "sslmode:", "logical_plugin:",
		"sink.bucket: required", "bookmarks.tabel: unknown key", "bookmarks.table: required", "passwrd: unknown key", "slot_name:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "oops") {
		t.Error("an unknown key's value was printed")
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	c, err := Parse([]byte(`{"host": "db", "user": "u", "password": "hunter2-secret", "dbname": "d",
		"ssh_tunnel": {"host": "b", "user": "e", "password": "tunnel-secret", "insecure_ignore_host_key": true}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", *c), fmt.Sprintf("%#v", *c), c.Redacted(), fmt.Sprint(*c.SSHTunnel)} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "tunnel-secret") {
			t.Fatalf("secret printed: %s", s)
		}
	}
	if !strings.Contains(c.ConnString(), "password='hunter2-secret'") {
		t.Fatal("the connection string lacks the password")
	}
}

func TestSSLDefaults(t *testing.T) {
	for in, want := range map[string]string{`{}`: "require", `{"ssl": "false"}`: "prefer", `{"ssl": true}`: "require", `{"sslmode": "verify-full"}`: "verify-full"} {
		doc := `{"host": "h", "user": "u", "dbname": "d", ` + strings.TrimPrefix(in, "{")
		doc = strings.Replace(doc, ", }", "}", 1)
		c, err := Parse([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if c.SSLMode != want {
			t.Errorf("%s: sslmode %s, want %s", in, c.SSLMode, want)
		}
	}
}

func TestOutputFormatAndHealthThresholds(t *testing.T) {
	c, err := Parse([]byte(`{"host":"h","user":"u","dbname":"d","sink":{"format":"Parquet"},"max_retained_wal_mb":50,"max_lag_seconds":"60"}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Sink.Format != layout.Parquet || c.MaxRetainedWALBytes != 50<<20 || c.MaxLag.Seconds() != 60 {
		t.Fatalf("got format %q, %d bytes, %v", c.Sink.Format, c.MaxRetainedWALBytes, c.MaxLag)
	}
	d, err := Parse([]byte(`{"host":"h","user":"u","dbname":"d"}`))
	if err != nil || d.Sink.Format != layout.JSONL || d.MaxRetainedWALBytes != 1<<30 {
		t.Fatalf("defaults: %v %+v", err, d)
	}
	_, err = Parse([]byte(`{"host":"h","user":"u","dbname":"d","sink":{"format":"csv"},"max_lag_seconds":0}`))
	if err == nil || !strings.Contains(err.Error(), "use jsonl or parquet") || !strings.Contains(err.Error(), "max_lag_seconds") {
		t.Fatalf("bad format and lag: %v", err)
	}
}

// tap-postgres' use_secondary reads FULL_TABLE and INCREMENTAL streams
// from a replica reached with the primary's user, password, dbname and
// SSL settings; the port defaults to the primary's.
func TestUseSecondary(t *testing.T) {
	base := `"host": "primary", "port": 5433, "user": "u", "password": "pw", "dbname": "shop", "sslmode": "verify-full"`
	for _, flag := range []string{`true`, `"true"`, `"1"`} {
		c, err := Parse([]byte(`{` + base + `, "use_secondary": ` + flag + `, "secondary_host": "replica"}`))
		if err != nil {
			t.Fatalf("use_secondary %s: %v", flag, err)
		}
		r := c.ForReads()
		if !c.UseSecondary || r.Host != "replica" || r.Port != 5433 || r.User != "u" || r.Password != "pw" || r.DBName != "shop" || r.SSLMode != "verify-full" {
			t.Fatalf("use_secondary %s: reads with %v", flag, r)
		}
		if c.Host != "primary" {
			t.Fatalf("ForReads changed the primary's config: %v", c)
		}
	}
	c, err := Parse([]byte(`{` + base + `, "use_secondary": "true", "secondary_host": "replica", "secondary_port": "6432"}`))
	if err != nil || c.ForReads().Port != 6432 || c.Port != 5433 {
		t.Fatalf("secondary_port: %v %v", err, c)
	}
	// Without use_secondary the keys are kept for later and every read
	// goes to host, as in tap-postgres.
	c, err = Parse([]byte(`{` + base + `, "use_secondary": "false", "secondary_host": "replica"}`))
	if err != nil || c.ForReads() != c {
		t.Fatalf("use_secondary false: %v %v", err, c.ForReads())
	}
}

func TestUseSecondaryBadInput(t *testing.T) {
	for doc, want := range map[string]string{
		`"use_secondary": true`:                                               "use_secondary: true needs secondary_host (the replica's address): set secondary_host, or remove use_secondary",
		`"use_secondary": true, "secondary_host": ""`:                         "use_secondary: true needs secondary_host",
		`"use_secondary": true, "secondary_host": "r", "secondary_port": 0`:   "secondary_port: 0 is not a TCP port",
		`"use_secondary": "maybe", "secondary_host": "r"`:                     "use_secondary: expected true or false",
		`"use_secondary": true, "secondary_host": "r", "secondary_port": "x"`: "secondary_port: expected a whole number",
	} {
		_, err := Parse([]byte(`{"host": "h", "user": "u", "dbname": "d", ` + doc + `}`))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", doc, err, want)
		}
	}
}

// filter_dbs: tap-postgres discovers each database listed; a pg2s3 config
// is one database, so the key passes only when it names that database.
func TestFilterDBs(t *testing.T) {
	for _, v := range []string{`""`, `"shop"`, `" shop "`, `["shop"]`, `[]`, `null`} {
		if _, err := Parse([]byte(`{"host": "h", "user": "u", "dbname": "shop", "filter_dbs": ` + v + `}`)); err != nil {
			t.Errorf("filter_dbs %s: %v", v, err)
		}
	}
	for v, want := range map[string]string{
		`"shop,crm"`:     "filter_dbs: lists shop, crm, but a pg2s3 config replicates one database, its dbname (shop): remove filter_dbs, or write one config (one pipeline) per database with its own dbname",
		`["crm"]`:        "filter_dbs: lists crm,",
		`["Shop"]`:       "filter_dbs: lists Shop,",
		`{"db": "shop"}`: "filter_dbs: expected a comma-separated string or an array of strings",
	} {
		_, err := Parse([]byte(`{"host": "h", "user": "u", "dbname": "shop", "filter_dbs": ` + v + `}`))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("filter_dbs %s: got %v, want %q", v, err, want)
		}
	}
	_, err := Parse([]byte(`{"host": "h", "user": "u", "filter_dbs": "shop"}`))
	if err == nil || !strings.Contains(err.Error(), "dbname: required") || !strings.Contains(err.Error(), "its dbname: remove filter_dbs") {
		t.Errorf("filter_dbs without dbname: %v", err)
	}
}
