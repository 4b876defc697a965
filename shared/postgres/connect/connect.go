// Package connect opens pg2s3's connections to PostgreSQL: query and
// logical replication connections with canonical session settings, over
// TLS as libpq reads sslmode and through the SSH tunnel when there is one.
// It explains a failed connection as the problem and its fix (FixError),
// and reads what server it reached (DetectServer).
//
// The packages beside it under shared/postgres read through its Conn;
// outside them a Conn can only be closed, so no pgx type leaves the
// folder.
package connect

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
	"github.com/pg2s3/pg2s3/shared/tunnel"
)

// Settings are what opening a connection takes from a pipeline's config.
// FromConfig makes them: the password and the other secrets it keeps are
// out of reach, and Settings print redacted. Host, Port, User and DBName
// are there to be read (errors name them); change the config, not them.
type Settings struct {
	Host   string
	Port   int
	User   string
	DBName string

	connString string // holds the password
	secrets    []string
	redacted   string

	sslMode, sslRootCert, sslCert, sslKey string
	rdsBundle                             string
	tunnel                                *config.SSHTunnel
	// plugin is the output plugin, named if the server refuses it.
	plugin string
}

// FromConfig takes the connection settings of c: the server, the user,
// TLS (with where the RDS CA bundle is) and the SSH tunnel.
func FromConfig(c *config.Config) Settings {
	return Settings{
		Host: c.Host, Port: c.Port, User: c.User, DBName: c.DBName,
		connString: c.ConnString(), secrets: c.Secrets(), redacted: c.Redacted(),
		sslMode: c.SSLMode, sslRootCert: c.SSLRootCert, sslCert: c.SSLCert, sslKey: c.SSLKey, rdsBundle: c.RDSBundleFile,
		tunnel: c.SSHTunnel, plugin: c.LogicalPlugin,
	}
}

// String prints the settings without their secrets.
func (s Settings) String() string { return s.redacted }

// GoString is String, for %#v.
func (s Settings) GoString() string { return s.redacted }

// Redact removes every secret of the settings from text.
func (s Settings) Redact(text string) string {
	for _, sec := range s.secrets {
		text = strings.ReplaceAll(text, sec, "********")
	}
	return text
}

// Conn is an open query connection with canonical session settings (see
// Open). The packages under shared/postgres read through it; elsewhere it
// can only be closed.
type Conn = pg.Conn

// ReplicationConn is an open logical replication connection (see
// OpenReplication), read by the packages under shared/postgres.
type ReplicationConn = pg.ReplicationConn

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

// connConfig builds a pgx connection config from s. replication selects a
// logical replication connection (replication=database).
func connConfig(s Settings, replication bool) (*pgconn.Config, error) {
	if s.connString == "" {
		return nil, errors.New("connection settings: empty: make them with connect.FromConfig")
	}
	cc, err := pgconn.ParseConfig(s.connString)
	if err != nil {
		return nil, fmt.Errorf("connection settings: %s", s.Redact(err.Error()))
	}
	for k, v := range sessionParams {
		cc.RuntimeParams[k] = v
	}
	if replication {
		cc.RuntimeParams["replication"] = "database"
	}
	if err := applyTLS(cc, s); err != nil {
		return nil, err
	}
	cc.BuildFrontend = bufferedFrontend
	if s.tunnel != nil {
		// Every connection (query, replication, cancel) goes through a
		// tunnel of its own, closed with it; the bastion resolves the host.
		cc.DialFunc = tunnel.Dialer(s.tunnel)
		cc.LookupFunc = func(_ context.Context, host string) ([]string, error) { return []string{host}, nil }
	}
	return cc, nil
}

// readBuffer is how much a connection reads from its socket at once.
// pgx reads 8 KiB at a time (the server's send buffer); when pg2s3 is
// busy encoding, the server's messages pile up in the socket and a larger
// read takes them in one system call instead of several.
const readBuffer = 128 << 10

// bufferedFrontend is pgx's frontend reading through a readBuffer-sized
// buffer. (pgx looks into its own buffer only in SyncConn, before a
// Hijack, which pg2s3 never calls.)
func bufferedFrontend(r io.Reader, w io.Writer) *pgproto3.Frontend {
	return pgproto3.NewFrontend(bufio.NewReaderSize(r, readBuffer), w)
}

// Open opens a query connection with canonical session settings.
func Open(ctx context.Context, s Settings) (*Conn, error) {
	cc, err := connConfig(s, false)
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
		return nil, explain(err, s)
	}
	return pg.NewConn(conn), nil
}

// OpenReplication opens a logical replication connection.
func OpenReplication(ctx context.Context, s Settings) (*ReplicationConn, error) {
	cc, err := connConfig(s, true)
	if err != nil {
		return nil, err
	}
	conn, err := pgconn.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, explain(err, s)
	}
	return pg.NewReplicationConn(conn), nil
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

// explain turns a connection failure into one line that names the
// problem and the fix, without the password.
func explain(err error, s Settings) error {
	target := fmt.Sprintf("%s:%d database %q as %q", s.Host, s.Port, s.DBName, s.User)
	if t := s.tunnel; t != nil {
		target += fmt.Sprintf(" through ssh tunnel %s@%s:%d", t.User, t.Host, t.Port)
		if e := explainTunnel(err, target); e != nil {
			return e
		}
	}
	if e := explainTLS(err, s, target); e != nil {
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
			if strings.Contains(pgErr.Message, "no encryption") && s.sslMode == "disable" {
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
			if pg.IsPluginRefusal(pgErr) {
				return Server{}.PluginNotAllowed(s.plugin)
			}
			if strings.Contains(pgErr.Message, "replication role") {
				return &FixError{Problem: fmt.Sprintf("connect to %s: %s", target, pgErr.Message), Fix: fmt.Sprintf("run ALTER ROLE %s REPLICATION as a superuser (RDS/Aurora: GRANT rds_replication TO %[1]s)", pgx.Identifier{s.User}.Sanitize())}
			}
			return &FixError{Problem: fmt.Sprintf("connect to %s: permission denied (%s)", target, pgErr.Message), Fix: "GRANT CONNECT ON DATABASE to the user"}
		case "53300":
			return &FixError{Problem: fmt.Sprintf("connect to %s: too many connections", target), Fix: "raise max_connections or max_wal_senders"}
		}
		return fmt.Errorf("connect to %s: %s (SQLSTATE %s)", target, s.Redact(pgErr.Message), pgErr.Code)
	}
	var netErr *net.OpError
	msg := s.Redact(err.Error())
	switch {
	case errors.As(err, &netErr) && strings.Contains(msg, "connection refused"):
		return &FixError{Problem: fmt.Sprintf("connect to %s: connection refused", target), Fix: "check host and port, and that the server listens there"}
	case strings.Contains(msg, "no such host"):
		return &FixError{Problem: fmt.Sprintf("connect to %s: unknown host %q", target, s.Host), Fix: "check host"}
	case strings.Contains(msg, "timeout") || errors.Is(err, context.DeadlineExceeded):
		return &FixError{Problem: fmt.Sprintf("connect to %s: timed out", target), Fix: "check host, port and firewall or security group rules"}
	case strings.Contains(msg, "server refused TLS") || strings.Contains(msg, "SSL is not enabled"):
		return &FixError{Problem: fmt.Sprintf("connect to %s: the server does not accept SSL", target), Fix: "set sslmode to disable or prefer, or enable ssl on the server"}
	}
	return fmt.Errorf("connect to %s: %s", target, msg)
}
