// Package config parses and validates pg2s3 settings. It takes the keys a
// tap-postgres user already has (values may be strings or JSON scalars) plus
// pg2s3's own, and reports every problem at once.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pg2s3/pg2s3/shared/layout"
)

// Config is the validated settings of one pipeline (one database).
type Config struct {
	Host     string
	Port     int
	User     string
	Password string `json:"-"`
	DBName   string

	SSLMode     string // disable, allow, prefer, require, verify-ca, verify-full
	SSLRootCert string // path, inline PEM, "system" or "rds" (AWS RDS CA bundle)
	SSLCert     string // path or inline PEM
	SSLKey      string `json:"-"` // path or inline PEM
	// RDSBundleFile is the first place sslrootcert "rds" looks for the AWS
	// RDS CA bundle. No key of the JSON sets it: the CLI and the functions
	// take it from $PG2S3_RDS_CA.
	RDSBundleFile string

	// A replica the FULL_TABLE and INCREMENTAL streams read from
	// (tap-postgres' use_secondary), with every other connection setting
	// of the primary. Log-based replication always uses the primary.
	UseSecondary  bool
	SecondaryHost string
	SecondaryPort int

	FilterSchemas []string

	SSHTunnel *SSHTunnel

	Sink      Sink
	Bookmarks Bookmarks

	// Log-based replication.
	SlotName      string
	LogicalPlugin string // pgoutput (default) or wal2json
	Publication   string
	PublishAll    bool // FOR ALL TABLES publication
	DebugLSN      bool

	// Run budget.
	BatchRows  int
	BatchBytes int64
	// RowsPerRange is the rows a parallel copy gives each range (sync
	// --parallel, the stack's parallel copy).
	RowsPerRange   int64
	MaxRunDuration time.Duration
	IdleTimeout    time.Duration // logical_poll_total_seconds

	DefaultReplicationMethod   layout.Method
	IncludeSchemasInStreamName bool
	// Pipeline names this configuration in the bookmark store and in object
	// keys; defaults to the database name.
	Pipeline string

	// Health thresholds (pg2s3 status, the stack's alarms): a slot holding
	// more WAL than MaxRetainedWALBytes, or lagging more than MaxLag, needs
	// attention.
	MaxRetainedWALBytes int64
	MaxLag              time.Duration
}

// SSHTunnel configures a bastion host.
type SSHTunnel struct {
	Host                  string
	Port                  int
	User                  string
	PrivateKey            string `json:"-"` // inline PEM or OpenSSH key, or a path
	Passphrase            string `json:"-"`
	Password              string `json:"-"`
	HostKey               string // known_hosts line(s) or public key(s) pinned for the bastion
	InsecureIgnoreHostKey bool
}

// String prints t without its secrets, so %v, %+v and panics never show them.
func (t SSHTunnel) String() string {
	return fmt.Sprintf("ssh %s@%s:%d", t.User, t.Host, t.Port)
}

// GoString is String, for %#v.
func (t SSHTunnel) GoString() string { return t.String() }

// Sink says where batches go.
type Sink struct {
	Type        string // local or s3
	Path        string
	Bucket      string
	Prefix      string
	Region      string
	Endpoint    string
	SSE         string
	KMSKeyID    string
	PartSizeMB  int
	Concurrency int
	// Format of data objects: jsonl (gzip JSON Lines, the default) or
	// parquet (columnar, typed from the catalog).
	Format layout.Format
}

// Bookmarks says where bookmarks are checkpointed.
type Bookmarks struct {
	Type     string // file or dynamodb
	Path     string
	Table    string
	Region   string
	Endpoint string
}

// Defaults of the embedded local setup.
const (
	DefaultSinkPath      = "./pg2s3-out"
	DefaultBookmarksPath = "./pg2s3-bookmarks.json"
	DefaultBatchRows     = 100000
	DefaultBatchBytes    = 128 << 20
	DefaultRowsPerRange  = 5_000_000
)

// Load reads and parses a JSON config file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse parses a JSON config document and validates it. The error, if any,
// joins every problem found, each naming its key.
func Parse(data []byte) (*Config, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	p := &parser{raw: raw}
	c := &Config{}
	c.Host = p.str("host", "")
	c.Port = p.int("port", 5432)
	c.User = p.str("user", "")
	c.Password = p.str("password", "")
	c.DBName = p.str("dbname", "")
	c.SSLMode = p.str("sslmode", "")
	if ssl, ok := p.boolOK("ssl"); ok && c.SSLMode == "" {
		// tap-postgres: ssl "true" means sslmode=require; "false" demanded
		// nothing, which libpq's prefer keeps working.
		c.SSLMode = map[bool]string{true: "require", false: "prefer"}[ssl]
	}
	if c.SSLMode == "" {
		c.SSLMode = "require" // encrypted unless the config says otherwise
	}
	c.SSLRootCert = p.str("sslrootcert", "")
	c.SSLCert = p.str("sslcert", "")
	c.SSLKey = p.str("sslkey", "")
	c.FilterSchemas = p.list("filter_schemas")
	p.filterDBs(c.DBName)
	c.UseSecondary = p.bool("use_secondary", false)
	c.SecondaryHost = p.str("secondary_host", "")
	c.SecondaryPort = p.int("secondary_port", c.Port)
	c.SlotName = p.str("slot_name", "")
	c.LogicalPlugin = p.str("logical_plugin", "pgoutput")
	c.Publication = p.str("publication", "")
	c.PublishAll = p.bool("publish_all_tables", false)
	c.DebugLSN = p.bool("debug_lsn", false)
	c.BatchRows = p.int("batch_rows", 0)
	if c.BatchRows == 0 {
		c.BatchRows = p.int("itersize", DefaultBatchRows)
	}
	c.BatchBytes = int64(p.int("batch_bytes", DefaultBatchBytes))
	if c.RowsPerRange = int64(p.int("rows_per_range", DefaultRowsPerRange)); c.RowsPerRange < 1 {
		p.errf("rows_per_range: must be at least 1 (rows per range of a parallel copy)")
	}
	c.MaxRunDuration = time.Duration(p.int("max_run_seconds", 0)) * time.Second
	idle := p.int("logical_poll_total_seconds", 0)
	if idle == 0 {
		idle = 1800
	}
	c.IdleTimeout = time.Duration(idle) * time.Second
	c.DefaultReplicationMethod = layout.Method(strings.ToUpper(p.str("default_replication_method", "")))
	c.IncludeSchemasInStreamName = p.bool("include_schemas_in_destination_stream_name", false)
	c.Pipeline = p.str("pipeline", "")
	c.MaxRetainedWALBytes = int64(p.int("max_retained_wal_mb", 1024)) << 20
	c.MaxLag = time.Duration(p.int("max_lag_seconds", 3600)) * time.Second
	p.str("wal2json_message_format", "2") // accepted for compatibility; pg2s3 always speaks format 2
	p.bool("break_at_end_lsn", true)      // accepted: every pg2s3 drain stops at its fence
	for _, k := range []string{"anchor_time", "cron_expression", "frequency_in_minutes", "tap_id"} {
		p.seen(k) // scheduling keys belong to the stack's config; accepted here
	}
	c.Sink = p.sink()
	c.Bookmarks = p.bookmarks()
	c.SSHTunnel = p.ssh()
	p.unknown()
	p.validate(c)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	if c.Pipeline == "" {
		c.Pipeline = c.DBName
	}
	if c.SlotName == "" {
		c.SlotName = "pg2s3_" + sanitizeSlot(c.DBName)
	}
	if c.Publication == "" {
		c.Publication = c.SlotName
	}
	return c, nil
}

// sanitizeSlot keeps what a slot name may hold: lower-case letters, digits
// and underscores.
func sanitizeSlot(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// ForReads returns the config that FULL_TABLE and INCREMENTAL streams
// are read with: with use_secondary, c's settings pointed at the
// secondary; otherwise c.
func (c *Config) ForReads() *Config {
	if !c.UseSecondary {
		return c
	}
	r := *c
	r.Host, r.Port = c.SecondaryHost, c.SecondaryPort
	r.UseSecondary = false
	return &r
}

// Redacted returns a printable copy of the config with secrets masked.
func (c *Config) Redacted() string {
	s := fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=%s", c.Host, c.Port, c.User, c.DBName, c.SSLMode)
	if c.SSHTunnel != nil {
		s += " via " + c.SSHTunnel.String()
	}
	return s
}

// String is Redacted, so %v, %+v and panics never print a secret.
func (c Config) String() string { return c.Redacted() }

// GoString is Redacted, for %#v.
func (c Config) GoString() string { return c.Redacted() }

// Secrets lists the secret values of c, for tests and log scrubbing.
func (c *Config) Secrets() []string {
	var s []string
	for _, v := range []string{c.Password, c.SSLKey} {
		if v != "" {
			s = append(s, v)
		}
	}
	if t := c.SSHTunnel; t != nil {
		for _, v := range []string{t.PrivateKey, t.Passphrase, t.Password} {
			if v != "" {
				s = append(s, v)
			}
		}
	}
	return s
}

// ConnString returns a libpq keyword/value connection string. It holds the
// password: never log it.
func (c *Config) ConnString() string {
	kv := []string{
		"host=" + quoteKV(c.Host),
		"port=" + strconv.Itoa(c.Port),
		"user=" + quoteKV(c.User),
		"dbname=" + quoteKV(c.DBName),
		"sslmode=" + c.SSLMode,
		"application_name=pg2s3",
	}
	if c.Password != "" {
		kv = append(kv, "password="+quoteKV(c.Password))
	}
	return strings.Join(kv, " ")
}

func quoteKV(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// FromURL builds a minimal config from a postgres:// URL (tests, demo).
func FromURL(dsn string) (*Config, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse connection URL: %w", errors.New("malformed URL"))
	}
	pw, _ := u.User.Password()
	m := map[string]any{
		"host": u.Hostname(), "port": u.Port(), "user": u.User.Username(), "password": pw,
		"dbname": strings.TrimPrefix(u.Path, "/"), "sslmode": u.Query().Get("sslmode"),
	}
	if m["port"] == "" {
		m["port"] = "5432"
	}
	if m["sslmode"] == "" {
		delete(m, "sslmode")
	}
	b, _ := json.Marshal(m)
	return Parse(b)
}

func (p *parser) sink() Sink {
	s := Sink{Type: "local", Path: DefaultSinkPath, PartSizeMB: 16, Concurrency: 4, Format: layout.JSONL}
	q := p.sub("sink")
	if q == nil {
		return s
	}
	s.Type = q.str("type", "local")
	s.Path = q.str("path", DefaultSinkPath)
	s.Bucket = q.str("bucket", "")
	s.Prefix = strings.Trim(q.str("prefix", ""), "/")
	s.Region = q.str("region", "")
	s.Endpoint = q.str("endpoint", "")
	s.SSE = q.str("sse", "")
	s.KMSKeyID = q.str("kms_key_id", "")
	s.PartSizeMB = q.int("part_size_mb", 16)
	s.Concurrency = q.int("concurrency", 4)
	s.Format = layout.Format(strings.ToLower(q.str("format", string(layout.JSONL))))
	if !s.Format.Valid() {
		q.errf("format: %q is not an output format: use jsonl or parquet", s.Format)
	}
	if s.PartSizeMB < 5 {
		q.errf("part_size_mb: S3 parts are at least 5 MB")
	}
	if s.Concurrency < 1 {
		q.errf("concurrency: must be at least 1")
	}
	p.adopt("sink", q)
	return s
}

func (p *parser) bookmarks() Bookmarks {
	b := Bookmarks{Type: "file", Path: DefaultBookmarksPath}
	q := p.sub("bookmarks")
	if q == nil {
		return b
	}
	b.Type = q.str("type", "file")
	b.Path = q.str("path", DefaultBookmarksPath)
	b.Table = q.str("table", "")
	b.Region = q.str("region", "")
	b.Endpoint = q.str("endpoint", "")
	p.adopt("bookmarks", q)
	return b
}

func (p *parser) ssh() *SSHTunnel {
	q := p.sub("ssh_tunnel")
	if q == nil {
		return nil
	}
	t := &SSHTunnel{
		Host: q.str("host", ""), Port: q.int("port", 22), User: q.str("user", ""),
		PrivateKey: q.str("private_key", ""), Passphrase: q.str("passphrase", ""),
		Password: q.str("password", ""), HostKey: q.str("host_key", ""),
		InsecureIgnoreHostKey: q.bool("insecure_ignore_host_key", false),
	}
	p.adopt("ssh_tunnel", q)
	return t
}

// filterDBs accepts tap-postgres' filter_dbs when it names no database but
// dbname: a pipeline replicates one database, where tap-postgres discovers
// every database listed.
func (p *parser) filterDBs(dbname string) {
	dbs := p.list("filter_dbs")
	if !slices.ContainsFunc(dbs, func(db string) bool { return db != dbname }) {
		return
	}
	named := ""
	if dbname != "" {
		named = fmt.Sprintf(" (%s)", dbname)
	}
	p.errf("filter_dbs: lists %s, but a pg2s3 config replicates one database, its dbname%s: remove filter_dbs, or write one config (one pipeline) per database with its own dbname",
		strings.Join(dbs, ", "), named)
}
