// Package fn is the wiring the Lambda functions share: settings from the
// environment, credentials from Secrets Manager, the run deadline, JSON
// logs with the request ID and the result every function returns.
package fn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/pg2s3/pg2s3/shared/awsstore"
	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
)

// Env is a function's settings, read from its environment variables.
type Env struct {
	Pipeline   string // PG2S3_PIPELINE
	SecretARN  string // PG2S3_SECRET_ARN: RDS-shaped JSON secret
	Bucket     string // PG2S3_BUCKET
	Prefix     string // PG2S3_PREFIX
	Table      string // PG2S3_TABLE (DynamoDB bookmarks)
	CatalogKey string // PG2S3_CATALOG_KEY (below the prefix)
	Slot       string // PG2S3_SLOT
	Plugin     string // PG2S3_PLUGIN
	SSLMode    string // PG2S3_SSLMODE
	// RDSBundle is PG2S3_RDS_CA, the file of the AWS RDS CA bundle that
	// sslrootcert "rds" reads first.
	RDSBundle string
	// Format is PG2S3_FORMAT, the data objects' format (sink.format):
	// jsonl or parquet; empty keeps the config's default (jsonl).
	Format string
	// Optional: PG2S3_SETTINGS, a JSON object of further config keys
	// (batch_rows, filter_schemas, ...); endpoints for compatible servers
	// (PG2S3_S3_ENDPOINT, PG2S3_DYNAMODB_ENDPOINT, PG2S3_SECRETS_ENDPOINT);
	// PG2S3_SAFETY_SECONDS, the margin kept before the Lambda deadline.
	Selection       string // PG2S3_SELECTION: inline {"<tap_stream_id>": {"replication_method", "replication_key"}}
	Settings        string
	S3Endpoint      string
	DynamoEndpoint  string
	SecretsEndpoint string
	Region          string // AWS_REGION (set by Lambda)
	Safety          time.Duration
}

// ReadEnv reads the settings through getenv (os.Getenv in main).
func ReadEnv(getenv func(string) string) (Env, error) {
	e := Env{
		Pipeline: getenv("PG2S3_PIPELINE"), SecretARN: getenv("PG2S3_SECRET_ARN"), Bucket: getenv("PG2S3_BUCKET"),
		Prefix: getenv("PG2S3_PREFIX"), Table: getenv("PG2S3_TABLE"), CatalogKey: getenv("PG2S3_CATALOG_KEY"),
		Slot: getenv("PG2S3_SLOT"), Plugin: getenv("PG2S3_PLUGIN"), SSLMode: getenv("PG2S3_SSLMODE"), Format: getenv("PG2S3_FORMAT"),
		RDSBundle: getenv(connect.RDSBundleEnv), Settings: getenv("PG2S3_SETTINGS"), Selection: getenv("PG2S3_SELECTION"),
		S3Endpoint: getenv("PG2S3_S3_ENDPOINT"), DynamoEndpoint: getenv("PG2S3_DYNAMODB_ENDPOINT"), SecretsEndpoint: getenv("PG2S3_SECRETS_ENDPOINT"),
		Region: getenv("AWS_REGION"), Safety: 20 * time.Second,
	}
	if s := getenv("PG2S3_SAFETY_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return e, fmt.Errorf("PG2S3_SAFETY_SECONDS: %q is not a whole number of seconds", s)
		}
		e.Safety = time.Duration(n) * time.Second
	}
	if e.CatalogKey == "" {
		e.CatalogKey = layout.CatalogKey
	}
	var errs []error
	for name, v := range map[string]string{"PG2S3_SECRET_ARN": e.SecretARN, "PG2S3_BUCKET": e.Bucket, "PG2S3_TABLE": e.Table} {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s: required (the stack sets it)", name))
		}
	}
	return e, errors.Join(errs...)
}

// Config builds the pipeline config: stores from the environment, the
// connection from the secret (with an SSH tunnel and SSL client
// certificates when the secret holds them). Secrets never leave the config.
func (e Env) Config(ctx context.Context) (*config.Config, error) {
	sec, err := awsstore.GetDatabaseSecret(ctx, e.SecretARN, e.Region, e.SecretsEndpoint)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if e.Settings != "" {
		if err := json.Unmarshal([]byte(e.Settings), &m); err != nil {
			return nil, fmt.Errorf("PG2S3_SETTINGS: not a JSON object: %w", err)
		}
	}
	port := string(sec.Port)
	if port == "" || port == "null" {
		port = "5432"
	}
	m["host"], m["port"], m["user"], m["password"], m["dbname"] = sec.Host, json.RawMessage(port), sec.Username, sec.Password, sec.DBName
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	if len(sec.SSHTunnel) > 0 && string(sec.SSHTunnel) != "null" {
		m["ssh_tunnel"] = sec.SSHTunnel
	}
	set("sslrootcert", sec.SSLRootCert)
	set("sslcert", sec.SSLCert)
	set("sslkey", sec.SSLKey)
	set("sslmode", e.SSLMode)
	set("slot_name", e.Slot)
	set("logical_plugin", e.Plugin)
	set("pipeline", e.Pipeline)
	sink := map[string]any{"type": "s3", "bucket": e.Bucket, "prefix": e.Prefix, "region": e.Region, "endpoint": e.S3Endpoint}
	if e.Format != "" {
		sink["format"] = e.Format
	}
	m["sink"] = sink
	m["bookmarks"] = map[string]any{"type": "dynamodb", "table": e.Table, "region": e.Region, "endpoint": e.DynamoEndpoint}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("settings from the secret and environment: %w", err)
	}
	cfg.RDSBundleFile = e.RDSBundle
	return cfg, nil
}

// Deadline is when a run must have committed its last batch: the
// invocation's deadline less the safety margin (at least half the time
// left is kept for work).
func (e Env) Deadline(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Time{}
	}
	left := time.Until(d)
	margin := min(e.Safety, left/2)
	return d.Add(-margin)
}
