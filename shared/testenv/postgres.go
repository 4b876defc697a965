// Package testenv starts private servers on free loopback ports for tests
// and the demo: a PostgreSQL cluster with logical decoding, an S3-compatible
// server and a DynamoDB-compatible server. Nothing here is used in Lambda.
package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Postgres is a private PostgreSQL cluster (or an existing server named by
// PG2S3_TEST_DSN).
type Postgres struct {
	Host    string
	Port    int
	User    string // superuser
	DataDir string
	BinDir  string
	dsn     string // set when an existing server is used
	owned   bool
	runAs   *user.User
}

// SetupHint is the command that installs what the harness needs on Debian.
const SetupHint = "apt-get install -y postgresql-15 postgresql-15-wal2json (or run `make setup`)"

// FindPGBin returns the directory holding initdb, pg_ctl and postgres.
func FindPGBin() (string, error) {
	var dirs []string
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(r))
		}
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(found)))
	// Prefer 15 (the version the project targets) when several are present.
	sort.SliceStable(found, func(i, j int) bool { return strings.Contains(found[i], "/15/") })
	dirs = append(found, dirs...)
	for _, d := range dirs {
		if fileExists(filepath.Join(d, "initdb")) && fileExists(filepath.Join(d, "postgres")) && fileExists(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in PATH or /usr/lib/postgresql/*/bin: %s", SetupHint)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// PostgresOptions tune a private cluster.
type PostgresOptions struct {
	// ExtraConf lines are appended to postgresql.conf.
	ExtraConf []string
	// HBA replaces the default pg_hba.conf (trust on loopback) when set.
	HBA string
	// Dir is where the cluster lives; a temporary directory when empty.
	Dir string
	// KeepPluginAllowList leaves output_plugin_libraries at the server's
	// default (pgoutput, test_decoding) instead of adding wal2json, as a
	// freshly upgraded server has it.
	KeepPluginAllowList bool
}

// AllowedOutputPlugins is what a private cluster admits as logical
// decoding output plugins on servers that have an allow-list.
const AllowedOutputPlugins = "pgoutput, test_decoding, wal2json"

// allowListConf returns the postgresql.conf line that admits wal2json, or
// nothing when the server (as `postgres --describe-config` printed it) has
// no output_plugin_libraries parameter: minor releases before 15.19 (and
// the matching ones of other majors) refuse to start on an unknown one.
func allowListConf(describeConfig string) []string {
	for _, line := range strings.Split(describeConfig, "\n") {
		if name, _, _ := strings.Cut(line, "\t"); name == "output_plugin_libraries" {
			return []string{"output_plugin_libraries = '" + AllowedOutputPlugins + "'"}
		}
	}
	return nil
}

// StartPostgres starts a private cluster, or returns the server named by
// PG2S3_TEST_DSN when that is set.
func StartPostgres(opt PostgresOptions) (*Postgres, error) {
	if dsn := os.Getenv("PG2S3_TEST_DSN"); dsn != "" {
		return &Postgres{dsn: dsn}, nil
	}
	bin, err := FindPGBin()
	if err != nil {
		return nil, err
	}
	p := &Postgres{Host: "127.0.0.1", BinDir: bin, User: "postgres", owned: true}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root and no postgres user exists (PostgreSQL refuses to run as root): %s", SetupHint)
		}
		p.runAs = u
	}
	dir := opt.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "pg2s3-pg-"); err != nil {
			return nil, err
		}
	}
	p.DataDir = filepath.Join(dir, "data")
	if err := p.chown(dir); err != nil {
		return nil, err
	}
	if out, err := p.run(filepath.Join(bin, "initdb"), "-D", p.DataDir, "-U", p.User, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	p.Port = port
	conf := []string{
		"listen_addresses = '127.0.0.1'",
		fmt.Sprintf("port = %d", port),
		"unix_socket_directories = '" + dir + "'",
		"wal_level = logical",
		"max_replication_slots = 64", // one slot per test database that drains, never dropped
		"max_wal_senders = 64",
		"fsync = off",
		"synchronous_commit = off",
		"full_page_writes = off",
		"shared_buffers = 128MB",
		"max_connections = 100",
		"log_min_messages = warning",
		"logging_collector = off",
	}
	if !opt.KeepPluginAllowList {
		out, err := p.run(filepath.Join(bin, "postgres"), "--describe-config")
		if err != nil {
			return nil, fmt.Errorf("postgres --describe-config: %v: %s", err, tail(string(out), 500))
		}
		conf = append(conf, allowListConf(string(out))...)
	}
	conf = append(conf, opt.ExtraConf...)
	if err := appendFile(filepath.Join(p.DataDir, "postgresql.conf"), strings.Join(conf, "\n")+"\n"); err != nil {
		return nil, err
	}
	hba := opt.HBA
	if hba == "" {
		hba = "local all all trust\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n"
	}
	if err := os.WriteFile(filepath.Join(p.DataDir, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return nil, err
	}
	if err := p.chown(p.DataDir); err != nil {
		return nil, err
	}
	if err := p.Start(); err != nil {
		return nil, err
	}
	return p, nil
}

// Start starts (or restarts after Stop) the cluster's server.
func (p *Postgres) Start() error {
	logf := filepath.Join(filepath.Dir(p.DataDir), "server.log")
	if out, err := p.run(filepath.Join(p.BinDir, "pg_ctl"), "-D", p.DataDir, "-l", logf, "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(logf)
		return fmt.Errorf("start postgres: %v: %s\n%s", err, out, tail(string(log), 2000))
	}
	return nil
}

// Restart restarts the server with fast shutdown (drops every connection).
func (p *Postgres) Restart() error {
	if !p.owned {
		return errors.New("cannot restart a server not started by testenv")
	}
	if out, err := p.run(filepath.Join(p.BinDir, "pg_ctl"), "-D", p.DataDir, "-m", "fast", "-w", "stop"); err != nil {
		return fmt.Errorf("stop postgres: %v: %s", err, out)
	}
	return p.Start()
}

// Stop stops the server and removes its files.
func (p *Postgres) Stop() {
	if p == nil || !p.owned {
		return
	}
	p.run(filepath.Join(p.BinDir, "pg_ctl"), "-D", p.DataDir, "-m", "immediate", "-w", "stop")
	os.RemoveAll(filepath.Dir(p.DataDir))
}

// DSN returns a connection string for database db as the superuser.
func (p *Postgres) DSN(db string) string {
	if p.dsn != "" {
		if db == "" {
			return p.dsn
		}
		return replaceDB(p.dsn, db)
	}
	if db == "" {
		db = "postgres"
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", p.User, p.Host, p.Port, db)
}

// Bin returns the path of a PostgreSQL client program (pg_recvlogical, ...).
func (p *Postgres) Bin(name string) string {
	if p.BinDir != "" {
		return filepath.Join(p.BinDir, name)
	}
	if b, err := FindPGBin(); err == nil {
		return filepath.Join(b, name)
	}
	return name
}

func replaceDB(dsn, db string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		rest := dsn[i+3:]
		q := ""
		if j := strings.IndexByte(rest, '?'); j >= 0 {
			rest, q = rest[:j], rest[j:]
		}
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			rest = rest[:j]
		}
		return dsn[:i+3] + rest + "/" + db + q
	}
	return dsn + " dbname=" + db
}

func (p *Postgres) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Dir = "/"
	if p.runAs != nil {
		uid, _ := strconv.Atoi(p.runAs.Uid)
		gid, _ := strconv.Atoi(p.runAs.Gid)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		if cmd.Process != nil {
			cmd.Process.Kill()
		}
		<-done
		err = fmt.Errorf("%s timed out", filepath.Base(name))
	}
	return out, err
}

func (p *Postgres) chown(dir string) error {
	if p.runAs == nil {
		return nil
	}
	uid, _ := strconv.Atoi(p.runAs.Uid)
	gid, _ := strconv.Atoi(p.runAs.Gid)
	return filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}

func appendFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
