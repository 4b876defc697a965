package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/testenv"
)

// TestSetupStoresCommand creates the table and the bucket on local
// servers, then finds them in place on a second run.
func TestSetupStoresCommand(t *testing.T) {
	s3srv, err := testenv.StartS3()
	if err != nil {
		t.Fatal(err)
	}
	defer s3srv.Close()
	dyn, err := testenv.StartDynamo()
	if err != nil {
		t.Fatal(err)
	}
	defer dyn.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", testenv.DummyAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testenv.DummySecretAccessKey)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	cfg := map[string]any{
		"host": "127.0.0.1", "user": "u", "dbname": "shop",
		"sink":      map[string]any{"type": "s3", "bucket": "pg2s3-out", "endpoint": s3srv.Endpoint()},
		"bookmarks": map[string]any{"type": "dynamodb", "table": "pg2s3-bookmarks", "endpoint": dyn.Endpoint()},
	}
	b, _ := json.Marshal(cfg)
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"dynamodb table pg2s3-bookmarks: created\ns3 bucket pg2s3-out: created\n",
		"dynamodb table pg2s3-bookmarks: exists, key schema ok\ns3 bucket pg2s3-out: exists\n",
	} {
		code, stdout, stderr := run("setup-stores", "--config", path)
		if code != 0 || stdout != want {
			t.Fatalf("exit %d, stdout %q (want %q), stderr %s", code, stdout, want, stderr)
		}
	}

	// With the server gone, the error names the table and what to check.
	dyn.Stop()
	code, _, stderr := run("setup-stores", "--config", path)
	if code != 1 || !strings.Contains(stderr, `cannot reach DynamoDB at `+dyn.Endpoint()+` for table "pg2s3-bookmarks"`) ||
		strings.Contains(stderr, testenv.DummySecretAccessKey) {
		t.Errorf("server down: exit %d, stderr %s", code, stderr)
	}
}
