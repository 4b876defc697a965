package connect

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// RDSBundleEnv names a file holding the AWS RDS CA bundle: the CLI and
// the functions put it in the config (config.Config.RDSBundleFile), since
// they alone read the environment; see rdsBundle.
const RDSBundleEnv = "PG2S3_RDS_CA"

// rdsBundleName is the bundle's file name where pg2s3 looks for it.
const rdsBundleName = "rds-global-bundle.pem"

// applyTLS sets the TLS configuration of cc from s's sslmode, sslrootcert,
// sslcert and sslkey, with libpq's meaning of each mode:
//
//	disable      plain only
//	allow        plain, then TLS if the server insists (no verification)
//	prefer       TLS, then plain if the server has no SSL (no verification)
//	require      TLS without verification; with sslrootcert, as verify-ca
//	verify-ca    TLS, the server's chain verified against sslrootcert
//	verify-full  verify-ca, and the certificate must name the host
//
// It replaces what pgconn derived from its own sources (PGSSL* variables,
// ~/.postgresql), so only the config decides. sslrootcert is a file path,
// inline PEM, "system" (the OS trust store) or "rds" (the AWS RDS CA bundle,
// see rdsBundle); without it verify-ca and verify-full use the OS store.
// sslcert and sslkey are file paths or inline PEM.
func applyTLS(cc *pgconn.Config, s Settings) error {
	mode := s.sslMode
	if mode == "" {
		mode = "prefer"
	}
	if mode == "disable" {
		cc.TLSConfig, cc.Fallbacks = nil, nil
		return nil
	}
	tc, err := buildTLS(s, cc.Host, mode)
	if err != nil {
		return err
	}
	plain := &pgconn.FallbackConfig{Host: cc.Host, Port: cc.Port}
	secure := &pgconn.FallbackConfig{Host: cc.Host, Port: cc.Port, TLSConfig: tc}
	switch mode {
	case "allow":
		cc.TLSConfig, cc.Fallbacks = nil, []*pgconn.FallbackConfig{secure}
	case "prefer":
		cc.TLSConfig, cc.Fallbacks = tc, []*pgconn.FallbackConfig{plain}
	default:
		cc.TLSConfig, cc.Fallbacks = tc, nil
	}
	return nil
}

func buildTLS(s Settings, host, mode string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if net.ParseIP(host) == nil {
		tc.ServerName = host // SNI; never for IP literals (RFC 6066)
	}
	roots, err := rootPool(s.sslRootCert, s.rdsBundle)
	if err != nil {
		return nil, err
	}
	if s.sslRootCert == "system" && mode != "verify-full" {
		return nil, fmt.Errorf("sslrootcert: \"system\" needs sslmode verify-full (got %s)", mode)
	}
	if mode == "require" && roots != nil {
		mode = "verify-ca" // libpq: require with a root certificate verifies the chain
	}
	switch mode {
	case "allow", "prefer", "require":
		tc.InsecureSkipVerify = true
	case "verify-ca":
		// Verify the chain but not the name (libpq's verify-ca): Go's own
		// verification always checks the name, so it is done here.
		tc.InsecureSkipVerify = true
		tc.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyChain(raw, roots)
		}
	case "verify-full":
		tc.ServerName = host
		tc.RootCAs = roots
	default:
		return nil, fmt.Errorf("sslmode: %q is not one of disable, allow, prefer, require, verify-ca, verify-full", mode)
	}
	if s.sslCert != "" || s.sslKey != "" {
		cert, err := clientCert(s.sslCert, s.sslKey)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func verifyChain(raw [][]byte, roots *x509.CertPool) error {
	if len(raw) == 0 {
		return errors.New("the server sent no certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
	var leaf *x509.Certificate
	for i, der := range raw {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("parse server certificate: %w", err)
		}
		if i == 0 {
			leaf = cert
		} else {
			opts.Intermediates.AddCert(cert)
		}
	}
	_, err := leaf.Verify(opts)
	return err
}

// rootPool loads sslrootcert v; nil means the OS trust store. rdsFile is
// where "rds" looks first.
func rootPool(v, rdsFile string) (*x509.CertPool, error) {
	switch {
	case v == "":
		return nil, nil
	case v == "system":
		pool, err := x509.SystemCertPool()
		if err != nil {
			return nil, fmt.Errorf("sslrootcert: load the system trust store: %w", err)
		}
		return pool, nil
	case v == "rds":
		pemBytes, err := rdsBundle(rdsFile)
		if err != nil {
			return nil, err
		}
		return poolFrom(pemBytes, "the RDS CA bundle")
	}
	pemBytes, err := pemOrFile(v, "sslrootcert")
	if err != nil {
		return nil, err
	}
	return poolFrom(pemBytes, "sslrootcert")
}

func poolFrom(pemBytes []byte, what string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("%s: no PEM certificate found", what)
	}
	return pool, nil
}

// rdsBundle reads the AWS RDS global CA bundle. It is public, but pg2s3
// cannot ship it in its source (the build has no network to fetch it), so
// it is looked for, in order, in file ($PG2S3_RDS_CA), beside
// the executable (where the Lambda packaging puts it), in /opt/pg2s3 (a
// Lambda layer) and in /etc/ssl/certs, each as rds-global-bundle.pem.
// Fetch or refresh it with
//
//	curl -fsSLo rds-global-bundle.pem https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
func rdsBundle(file string) ([]byte, error) {
	var paths []string
	if file != "" {
		paths = append(paths, file)
	}
	if exe, err := os.Executable(); err == nil {
		paths = append(paths, filepath.Join(filepath.Dir(exe), rdsBundleName))
	}
	paths = append(paths, filepath.Join("/opt/pg2s3", rdsBundleName), filepath.Join("/etc/ssl/certs", rdsBundleName))
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("sslrootcert: \"rds\" needs the AWS RDS CA bundle, found in none of %s: download https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem there or set %s to its path",
		strings.Join(paths, ", "), RDSBundleEnv)
}

// clientCert loads the client certificate and key (paths or inline PEM).
func clientCert(certV, keyV string) (tls.Certificate, error) {
	if certV == "" || keyV == "" {
		return tls.Certificate{}, errors.New("sslcert and sslkey: set both or neither")
	}
	certPEM, err := pemOrFile(certV, "sslcert")
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := pemOrFile(keyV, "sslkey")
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The message of X509KeyPair names the problem, never the key bytes.
		return tls.Certificate{}, fmt.Errorf("sslcert and sslkey: load the client certificate: %w (an encrypted key is not supported: decrypt it first)", err)
	}
	return cert, nil
}

// pemOrFile returns v itself when it is inline PEM, else the file it names.
func pemOrFile(v, key string) ([]byte, error) {
	if isPEM(v) {
		return []byte(v), nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%s: read %s: %w", key, v, err)
	}
	return b, nil
}

func isPEM(v string) bool { return strings.HasPrefix(strings.TrimSpace(v), "-----BEGIN") }

// explainTLS turns a certificate verification failure into a sentence with
// the fix, or returns nil when err is no such failure.
func explainTLS(err error, s Settings, target string) error {
	var unknown x509.UnknownAuthorityError
	var name x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &name):
		valid := append(append([]string{}, name.Certificate.DNSNames...), ipStrings(name.Certificate.IPAddresses)...)
		return fmt.Errorf("connect to %s: the server's certificate does not name host %q (it names %s): connect with a host name the certificate holds, or use sslmode verify-ca", target, s.Host, strings.Join(valid, ", "))
	case errors.As(err, &unknown):
		return fmt.Errorf("connect to %s: the server's certificate is not signed by a CA in sslrootcert (%s): set sslrootcert to the CA that signed it (\"rds\" for Amazon RDS)", target, describeRoot(s.sslRootCert))
	case errors.As(err, &invalid):
		return fmt.Errorf("connect to %s: the server's certificate is not valid: %v", target, invalid)
	}
	return nil
}

func describeRoot(v string) string {
	switch {
	case v == "":
		return "unset: the system trust store was used"
	case isPEM(v):
		return "inline PEM"
	}
	return v
}

func ipStrings(ips []net.IP) []string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return s
}

// explainTunnel names the SSH tunnel's failure, or returns nil when err did
// not come from the tunnel. The tunnel's errors hold no secret; its own
// message is used rather than pgconn's retelling of each attempt.
func explainTunnel(err error, target string) error {
	var found string
	var walk func(error)
	walk = func(e error) {
		if found != "" || e == nil {
			return
		}
		if s := e.Error(); strings.HasPrefix(s, "open ssh tunnel") {
			found = s
			return
		} else if strings.HasPrefix(s, "dial ") && !strings.HasPrefix(s, "dial error") && strings.Contains(s, "through ssh tunnel") {
			found = s + ": the bastion could not reach the database: check host and port as the bastion sees them, and the database's firewall or security group"
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	if found == "" {
		return nil
	}
	return fmt.Errorf("connect to %s: %s", target, found)
}
