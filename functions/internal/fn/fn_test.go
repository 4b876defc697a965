package fn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/report"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestReadEnvNamesMissingSettings(t *testing.T) {
	_, err := ReadEnv(env(nil))
	for _, k := range []string{"PG2S3_SECRET_ARN", "PG2S3_BUCKET", "PG2S3_TABLE"} {
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("missing %s not reported: %v", k, err)
		}
	}
	if _, err := ReadEnv(env(map[string]string{"PG2S3_SAFETY_SECONDS": "soon"})); err == nil || !strings.Contains(err.Error(), "PG2S3_SAFETY_SECONDS") {
		t.Errorf("bad safety margin accepted: %v", err)
	}
}

func TestDeadlineKeepsSafetyMargin(t *testing.T) {
	e := Env{Safety: 20 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d := e.Deadline(ctx)
	if left := time.Until(d); left < 4*time.Minute+30*time.Second || left > 4*time.Minute+41*time.Second {
		t.Fatalf("deadline leaves %s of 5m", left)
	}
	// A short invocation keeps half its time for work.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if left := time.Until(e.Deadline(ctx2)); left < 4*time.Second || left > 6*time.Second {
		t.Fatalf("short deadline leaves %s of 10s", left)
	}
	if !e.Deadline(context.Background()).IsZero() {
		t.Fatal("no invocation deadline should mean no run deadline")
	}
}

func TestConfigFromSecret(t *testing.T) {
	secret := `{"host": "db.internal", "port": 5433, "username": "repl", "password": "s3cr3t-pw", "dbname": "shop", "engine": "postgres"}`
	srv, err := testenv.StartSecrets(map[string]string{"arn:aws:secretsmanager:us-east-1:1:secret:db": secret})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", testenv.DummyAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testenv.DummySecretAccessKey)
	e, err := ReadEnv(env(map[string]string{
		"PG2S3_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:db", "PG2S3_BUCKET": "b", "PG2S3_TABLE": "t",
		"PG2S3_SECRETS_ENDPOINT": srv.Endpoint(), "AWS_REGION": "us-east-1", "PG2S3_SSLMODE": "verify-full",
		"PG2S3_SETTINGS": `{"batch_rows": 5000}`, "PG2S3_PIPELINE": "shop-prod", "PG2S3_FORMAT": "parquet",
	}))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := e.Config(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "db.internal" || cfg.Port != 5433 || cfg.User != "repl" || cfg.Password != "s3cr3t-pw" || cfg.SSLMode != "verify-full" ||
		cfg.BatchRows != 5000 || cfg.Pipeline != "shop-prod" || cfg.Sink.Type != "s3" || cfg.Sink.Format != "parquet" || cfg.Bookmarks.Table != "t" {
		t.Fatalf("config: %+v", cfg)
	}
	// Without PG2S3_FORMAT the sink keeps the default; a bad one names itself.
	e.Format = ""
	if cfg, err := e.Config(context.Background()); err != nil || cfg.Sink.Format != "jsonl" {
		t.Fatalf("default format: %v %+v", err, cfg)
	}
	e.Format = "csv"
	if _, err := e.Config(context.Background()); err == nil || !strings.Contains(err.Error(), `format: "csv" is not an output format`) {
		t.Fatalf("bad format: %v", err)
	}
	e.Format = "parquet"
	e.SecretARN = "arn:aws:secretsmanager:us-east-1:1:secret:nope"
	_, err = e.Config(context.Background())
	if err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("missing secret: %v", err)
	}
}

// TestConfigFromSecretWithTunnel: a secret may also hold the bastion
// tunnel and SSL client material; they reach the config, and a broken
// tunnel entry is named without showing its key.
func TestConfigFromSecretWithTunnel(t *testing.T) {
	const arn, bad = "arn:aws:secretsmanager:us-east-1:1:secret:tunnel", "arn:aws:secretsmanager:us-east-1:1:secret:badtunnel"
	srv, err := testenv.StartSecrets(map[string]string{
		arn: `{"host": "db.internal", "port": 5432, "username": "repl", "password": "pw", "dbname": "shop",
			"ssh_tunnel": {"host": "bastion.example.com", "user": "ec2-user", "private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWtleQ==\n-----END OPENSSH PRIVATE KEY-----", "host_key": "bastion.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE"},
			"sslrootcert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "sslcert": "cert-pem", "sslkey": "key-pem"}`,
		bad: `{"host": "db.internal", "username": "repl", "password": "pw", "dbname": "shop", "ssh_tunnel": {"host": "b", "private_key": "c2VjcmV0LWtleQ==", "prot": 22}}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", testenv.DummyAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testenv.DummySecretAccessKey)
	e, err := ReadEnv(env(map[string]string{"PG2S3_SECRET_ARN": arn, "PG2S3_BUCKET": "b", "PG2S3_TABLE": "t",
		"PG2S3_SECRETS_ENDPOINT": srv.Endpoint(), "AWS_REGION": "us-east-1", "PG2S3_RDS_CA": "/opt/pg2s3/bundle.pem"}))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := e.Config(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tun := cfg.SSHTunnel
	if tun == nil || tun.Host != "bastion.example.com" || tun.Port != 22 || tun.User != "ec2-user" || !strings.Contains(tun.PrivateKey, "c2VjcmV0LWtleQ==") ||
		!strings.HasPrefix(tun.HostKey, "bastion.example.com ssh-ed25519") || !strings.Contains(cfg.SSLRootCert, "BEGIN CERTIFICATE") || cfg.SSLCert != "cert-pem" || cfg.SSLKey != "key-pem" {
		t.Fatalf("tunnel and SSL from the secret: %+v %+v", tun, cfg)
	}
	if cfg.RDSBundleFile != "/opt/pg2s3/bundle.pem" {
		t.Errorf("PG2S3_RDS_CA: the config has %q", cfg.RDSBundleFile)
	}
	e.SecretARN = bad
	_, err = e.Config(context.Background())
	if err == nil || !strings.Contains(err.Error(), "prot") || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Fatalf("a misspelled tunnel key: %v", err)
	}
}

func TestDecodeIsStrict(t *testing.T) {
	var ev ResetEvent
	if err := Decode([]byte(`{"stram": "x"}`), &ev); err == nil || !strings.Contains(err.Error(), "stram") {
		t.Fatalf("unknown key accepted: %v", err)
	}
	if err := Decode(nil, &ev); err != nil || ev.Validate() == nil {
		t.Fatalf("empty reset event: %v %v", err, ev.Validate())
	}
	for _, good := range []ResetEvent{{Stream: "a"}, {Slot: true, Confirm: true}, {Prune: true}, {Prune: true, Keep: 3}} {
		if err := good.Validate(); err != nil {
			t.Errorf("%+v refused: %v", good, err)
		}
	}
	for _, bad := range []ResetEvent{{Slot: true}, {Stream: "a", Slot: true, Confirm: true}, {Stream: "a", Prune: true}, {Keep: 2}, {Prune: true, Keep: -1}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestEmitMetricsIsEmbeddedMetricFormat(t *testing.T) {
	var buf bytes.Buffer
	run := &report.Run{Kind: "wal", Streams: []report.Stream{{Stream: "db-public-a", Rows: 12, DurationMS: 40}}, Slot: &report.Slot{RetainedBytes: 4096, LagSeconds: 1.5}}
	EmitMetrics(&buf, "shop", run)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d metric lines, want 2", len(lines))
	}
	var m struct {
		AWS struct {
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		RowsReplicated float64
		Stream         string
	}
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	if m.AWS.CloudWatchMetrics[0].Namespace != "pg2s3" || m.RowsReplicated != 12 || m.Stream != "db-public-a" {
		t.Fatalf("metric line: %s", lines[0])
	}
	// The drain's line: it succeeded, with the slot's figures.
	var d map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &d); err != nil || d["DrainSucceeded"] != 1.0 || d["SlotRetainedWALBytes"] != 4096.0 || d["ReplicationLagSeconds"] != 1.5 {
		t.Fatalf("drain line %s: %v", lines[1], err)
	}
	// A failed drain says so, keeps the retained WAL and leaves the lag out.
	buf.Reset()
	run.Streams[0].Error = "the slot holds"
	EmitMetrics(&buf, "shop", run)
	lines = strings.Split(strings.TrimSpace(buf.String()), "\n")
	d = nil
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &d); err != nil || d["DrainSucceeded"] != 0.0 || d["SlotRetainedWALBytes"] != 4096.0 || d["ReplicationLagSeconds"] != nil {
		t.Fatalf("failed drain line %s: %v", lines[len(lines)-1], err)
	}
	// A table sync has no drain line.
	buf.Reset()
	EmitMetrics(&buf, "shop", &report.Run{Kind: "sync", Streams: run.Streams})
	if n := strings.Count(buf.String(), "\n"); n != 1 {
		t.Errorf("a sync emitted %d lines, want its stream's only", n)
	}
}

// TestOpenReadsTheStoredCatalog: the functions read the catalog discover
// stored; a missing one says to run discover first, one that does not
// parse names its key (and does not say to run discover), and neither
// shows the secret.
func TestOpenReadsTheStoredCatalog(t *testing.T) {
	const arn = "arn:aws:secretsmanager:us-east-1:1:secret:db"
	secrets, err := testenv.StartSecrets(map[string]string{arn: `{"host": "db.internal", "username": "u", "password": "s3cr3t-pw", "dbname": "shop"}`})
	if err != nil {
		t.Fatal(err)
	}
	defer secrets.Close()
	s3, err := testenv.StartS3()
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if err := s3.CreateBucket("b"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", testenv.DummyAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testenv.DummySecretAccessKey)
	e, err := ReadEnv(env(map[string]string{
		"PG2S3_SECRET_ARN": arn, "PG2S3_BUCKET": "b", "PG2S3_PREFIX": "p", "PG2S3_TABLE": "t", "AWS_REGION": "us-east-1",
		"PG2S3_SECRETS_ENDPOINT": secrets.Endpoint(), "PG2S3_S3_ENDPOINT": s3.Endpoint(), "PG2S3_DYNAMODB_ENDPOINT": "http://127.0.0.1:1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, _, err := Open(ctx, e, nil)
	if err == nil || !errors.Is(err, record.ErrNotFound) || !strings.Contains(err.Error(), "invoke the discover function") ||
		!strings.Contains(err.Error(), "_catalog/catalog.json") || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("no catalog: %v", err)
	}
	if err := a.Stores.Sink.Put(ctx, e.CatalogKey, []byte(`{"streams": [`), "application/json"); err != nil {
		t.Fatal(err)
	}
	_, _, err = Open(ctx, e, nil)
	if err == nil || !strings.Contains(err.Error(), "catalog _catalog/catalog.json") || strings.Contains(err.Error(), "discover function") {
		t.Fatalf("catalog that does not parse: %v", err)
	}
	if err := a.Stores.Sink.Put(ctx, e.CatalogKey, []byte(`{"streams": []}`), "application/json"); err != nil {
		t.Fatal(err)
	}
	if _, cat, err := Open(ctx, e, nil); err != nil || cat == nil {
		t.Fatalf("stored catalog: %v %v", cat, err)
	}
}
