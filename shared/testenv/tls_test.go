package testenv

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
)

func TestGenerateTLS(t *testing.T) {
	f, err := GenerateTLS(t.TempDir(), []string{"127.0.0.1", "localhost"}, "certuser")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(f.ServerCertFile, f.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(f.CAPEM)
	for name, ok := range map[string]bool{"127.0.0.1": true, "localhost": true, "127.0.0.2": false, "db.example.com": false} {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name})
		if (err == nil) != ok {
			t.Errorf("server certificate for %s: %v", name, err)
		}
	}
	client, err := tls.X509KeyPair(f.ClientCertPEM, f.ClientKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cl, _ := x509.ParseCertificate(client.Certificate[0])
	if _, err := cl.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil || cl.Subject.CommonName != "certuser" {
		t.Errorf("client certificate %q: %v", cl.Subject.CommonName, err)
	}
	for _, key := range []string{f.ServerKey, f.ClientKey} {
		if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v", key, st.Mode(), err)
		}
	}
}
