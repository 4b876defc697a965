package config

import (
	"slices"

	"github.com/pg2s3/pg2s3/shared/layout"
)

func (p *parser) validate(c *Config) {
	if c.Host == "" {
		p.errf("host: required (the PostgreSQL server's address)")
	}
	if c.User == "" {
		p.errf("user: required")
	}
	if c.DBName == "" {
		p.errf("dbname: required (the database to replicate)")
	}
	if c.Port <= 0 || c.Port > 65535 {
		p.errf("port: %d is not a TCP port (1-65535)", c.Port)
	}
	if c.UseSecondary {
		if c.SecondaryHost == "" {
			p.errf("use_secondary: true needs secondary_host (the replica's address): set secondary_host, or remove use_secondary to read every stream from host")
		}
		if c.SecondaryPort <= 0 || c.SecondaryPort > 65535 {
			p.errf("secondary_port: %d is not a TCP port (1-65535)", c.SecondaryPort)
		}
	}
	switch c.SSLMode {
	case "disable", "allow", "prefer", "require", "verify-ca", "verify-full":
	default:
		p.errf("sslmode: %q is not one of disable, prefer, require, verify-ca, verify-full", c.SSLMode)
	}
	switch c.LogicalPlugin {
	case "pgoutput", "wal2json":
	default:
		p.errf("logical_plugin: %q is not pgoutput or wal2json", c.LogicalPlugin)
	}
	if m := c.DefaultReplicationMethod; m != "" && !slices.Contains(layout.Methods(), m) {
		p.errf("default_replication_method: %q is not FULL_TABLE, INCREMENTAL or LOG_BASED", c.DefaultReplicationMethod)
	}
	if c.BatchRows < 1 {
		p.errf("batch_rows: must be at least 1")
	}
	if c.BatchBytes < 1<<10 {
		p.errf("batch_bytes: must be at least 1024")
	}
	if c.MaxRetainedWALBytes <= 0 {
		p.errf("max_retained_wal_mb: must be at least 1")
	}
	if c.MaxLag <= 0 {
		p.errf("max_lag_seconds: must be at least 1")
	}
	if c.SlotName != "" && (len(c.SlotName) > 63 || sanitizeSlot(c.SlotName) != c.SlotName) {
		p.errf("slot_name: %q may hold only lower-case letters, digits and underscores (at most 63)", c.SlotName)
	}
	switch c.Sink.Type {
	case "local":
	case "s3":
		if c.Sink.Bucket == "" {
			p.errf("sink.bucket: required for an s3 sink")
		}
		switch c.Sink.SSE {
		case "", "AES256", "aws:kms":
		default:
			p.errf("sink.sse: %q is not AES256 or aws:kms", c.Sink.SSE)
		}
		if c.Sink.KMSKeyID != "" && c.Sink.SSE != "aws:kms" {
			p.errf("sink.kms_key_id: set sink.sse to aws:kms to use a KMS key")
		}
	default:
		p.errf("sink.type: %q is not local or s3", c.Sink.Type)
	}
	switch c.Bookmarks.Type {
	case "file":
	case "dynamodb":
		if c.Bookmarks.Table == "" {
			p.errf("bookmarks.table: required for dynamodb bookmarks")
		}
	default:
		p.errf("bookmarks.type: %q is not file or dynamodb", c.Bookmarks.Type)
	}
	if (c.SSLCert == "") != (c.SSLKey == "") {
		p.errf("sslcert and sslkey: set both (the client certificate and its key) or neither")
	}
	if c.SSLRootCert == "system" && c.SSLMode != "verify-full" {
		p.errf("sslrootcert: \"system\" needs sslmode verify-full")
	}
	if t := c.SSHTunnel; t != nil {
		if t.Port <= 0 || t.Port > 65535 {
			p.errf("ssh_tunnel.port: %d is not a TCP port (1-65535)", t.Port)
		}
		if t.Host == "" || t.User == "" {
			p.errf("ssh_tunnel: host and user are required")
		}
		if t.PrivateKey == "" && t.Password == "" {
			p.errf("ssh_tunnel: private_key or password is required")
		}
		if t.HostKey == "" && !t.InsecureIgnoreHostKey {
			p.errf("ssh_tunnel.host_key: required (a known_hosts line for the bastion); set insecure_ignore_host_key to skip verification")
		}
	}
}
