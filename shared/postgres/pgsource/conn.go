// Package pgsource is pg2s3's only importer of pgx and pglogrepl: it
// connects to PostgreSQL, discovers streams, reads table pages and decodes
// the logical replication stream.
package pgsource

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/tunnel"
)

// sessionParams make every value's text form canonical: timestamps in UTC
// ISO form, intervals in ISO 8601, floats round-tripping, bytea as hex.
var sessionParams = map[string]string{
	"TimeZone":           "UTC",
	"DateStyle":          "ISO, MDY",
	"IntervalStyle":      "iso_8601",
	"extra_float_digits": "3",
	"bytea_output":       "hex",
	"application_name":   "pg2s3",
}

// ConnConfig builds a pgx connection config from c. replication selects a
// logical replication connection (replication=database).
func ConnConfig(c *config.Config, replication bool) (*pgconn.Config, error) {
	cc, err := pgconn.ParseConfig(c.ConnString())
	if err != nil {
		return nil, fmt.Errorf("connection settings: %s", redact(err.Error(), c))
	}
	for k, v := range sessionParams {
		cc.RuntimeParams[k] = v
	}
	if replication {
		cc.RuntimeParams["replication"] = "database"
	}
	if err := applyTLS(cc, c); err != nil {
		return nil, err
	}
	if c.SSHTunnel != nil {
		// Every connection (query, replication, cancel) goes through a
		// tunnel of its own, closed with it; the bastion resolves the host.
		cc.DialFunc = tunnel.Dialer(c.SSHTunnel)
		cc.LookupFunc = func(_ context.Context, host string) ([]string, error) { return []string{host}, nil }
	}
	return cc, nil
}

// Connect opens a query connection with canonical session settings.
func Connect(ctx context.Context, c *config.Config) (*pgx.Conn, error) {
	cc, err := ConnConfig(c, false)
	if err != nil {
		return nil, err
	}
	pc, err := pgx.ParseConfig("")
	if err != nil {
		return nil, err
	}
	pc.Config = *cc
	conn, err := pgx.ConnectConfig(ctx, pc)
	if err != nil {
		return nil, ExplainConnectError(err, c)
	}
	return conn, nil
}

// ConnectReplication opens a logical replication connection.
func ConnectReplication(ctx context.Context, c *config.Config) (*pgconn.PgConn, error) {
	cc, err := ConnConfig(c, true)
	if err != nil {
		return nil, err
	}
	conn, err := pgconn.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, ExplainConnectError(err, c)
	}
	return conn, nil
}

// FixError is a failure explained for people: what happened, and what to
// do about it. Its text is "<problem>: <fix>". Err, when set, is the
// sentinel callers branch on.
type FixError struct {
	Problem, Fix string
	Err          error
}

func (e *FixError) Error() string { return e.Problem + ": " + e.Fix }

func (e *FixError) Unwrap() error { return e.Err }

// ExplainConnectError turns a connection failure into one line that names
// the problem and the fix, without the password.
func ExplainConnectError(err error, c *config.Config) error {
	target := fmt.Sprintf("%s:%d database %q as %q", c.Host, c.Port, c.DBName, c.User)
	if t := c.SSHTunnel; t != nil {
		target += fmt.Sprintf(" through ssh tunnel %s@%s:%d", t.User, t.Host, t.Port)
		if e := explainTunnel(err, target); e != nil {
			return e
		}
	}
	if e := explainTLS(err, c, target); e != nil {
		return e
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "28P01":
			return &FixError{Problem: fmt.Sprintf("connect to %s: password authentication failed", target), Fix: "check user and password"}
		case "3D000":
			return &FixError{Problem: fmt.Sprintf("connect to %s: database does not exist", target), Fix: "check dbname (list databases with \\l in psql)"}
		case "28000":
			if strings.Contains(pgErr.Message, "no encryption") && c.SSLMode == "disable" {
				return &FixError{Problem: fmt.Sprintf("connect to %s: no pg_hba.conf line admits a connection without SSL from this address (only hostssl lines match it)", target), Fix: "if the server has ssl = on, set sslmode to verify-full (or require); if not, add a host line for this user and address above the others and reload"}
			}
			if strings.Contains(pgErr.Message, "client certificate") {
				return &FixError{Problem: fmt.Sprintf("connect to %s: the server requires a valid client certificate for this user", target), Fix: "set sslcert and sslkey to a certificate signed by the server's ssl_ca_file whose common name is the user"}
			}
			if strings.Contains(pgErr.Message, "does not exist") {
				return &FixError{Problem: fmt.Sprintf("connect to %s: %s", target, pgErr.Message), Fix: "create the role (README, step 1: CREATE ROLE ... LOGIN) or fix user"}
			}
			return &FixError{Problem: fmt.Sprintf("connect to %s: no pg_hba.conf entry allows this user from this address (%s)", target, pgErr.Message), Fix: "add a line for this database, user and address above broader ones (logical replication connections match the database line too) and reload"}
		case "42501":
			if isPluginRefusal(pgErr) {
				return pluginNotAllowed(c.LogicalPlugin, nil, false)
			}
			if strings.Contains(pgErr.Message, "replication role") {
				return &FixError{Problem: fmt.Sprintf("connect to %s: %s", target, pgErr.Message), Fix: fmt.Sprintf("run ALTER ROLE %s REPLICATION as a superuser (RDS/Aurora: GRANT rds_replication TO %[1]s)", pgx.Identifier{c.User}.Sanitize())}
			}
			return &FixError{Problem: fmt.Sprintf("connect to %s: permission denied (%s)", target, pgErr.Message), Fix: "GRANT CONNECT ON DATABASE to the user"}
		case "53300":
			return &FixError{Problem: fmt.Sprintf("connect to %s: too many connections", target), Fix: "raise max_connections or max_wal_senders"}
		}
		return fmt.Errorf("connect to %s: %s (SQLSTATE %s)", target, redact(pgErr.Message, c), pgErr.Code)
	}
	var netErr *net.OpError
	msg := redact(err.Error(), c)
	switch {
	case errors.As(err, &netErr) && strings.Contains(msg, "connection refused"):
		return &FixError{Problem: fmt.Sprintf("connect to %s: connection refused", target), Fix: "check host and port, and that the server listens there"}
	case strings.Contains(msg, "no such host"):
		return &FixError{Problem: fmt.Sprintf("connect to %s: unknown host %q", target, c.Host), Fix: "check host"}
	case strings.Contains(msg, "timeout") || errors.Is(err, context.DeadlineExceeded):
		return &FixError{Problem: fmt.Sprintf("connect to %s: timed out", target), Fix: "check host, port and firewall or security group rules"}
	case strings.Contains(msg, "server refused TLS") || strings.Contains(msg, "SSL is not enabled"):
		return &FixError{Problem: fmt.Sprintf("connect to %s: the server does not accept SSL", target), Fix: "set sslmode to disable or prefer, or enable ssl on the server"}
	}
	return fmt.Errorf("connect to %s: %s", target, msg)
}

// redact removes every secret of c from s.
func redact(s string, c *config.Config) string {
	for _, sec := range c.Secrets() {
		s = strings.ReplaceAll(s, sec, "********")
	}
	return s
}
