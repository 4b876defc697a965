package functions_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/awsstore"
	"github.com/pg2s3/pg2s3/shared/awsstore/awstest"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// harness is a pipeline name over a private PostgreSQL database of the
// same name (holding schema), S3, DynamoDB and Secrets Manager-compatible
// servers, and the functions' entry points built once: the Lambda
// functions run under the emulator (invoke), the task as a process (build).
type harness struct {
	t    *testing.T
	ctx  context.Context
	pg   *testenv.Postgres
	aws  *awstest.Stores
	bm   *awsstore.DynamoBookmarks
	sink *awsstore.S3Sink
	// env is every entry point's environment: the pipeline's stores and
	// secret, then the caller's env (settings, selection, the task's).
	env []string
	dir string
}

func newHarness(t *testing.T, name, schema string, env ...string) *harness {
	t.Helper()
	if _, err := testenv.FindRIE(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pg, err := testenv.StartPostgres(testenv.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	if err := testenv.Exec(ctx, pg.DSN(""), "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	if err := testenv.Exec(ctx, pg.DSN(name), schema); err != nil {
		t.Fatal(err)
	}
	aws := awstest.Start(t, "lake", "pg2s3-bookmarks")
	arn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + name
	secret := fmt.Sprintf(`{"host":"127.0.0.1","port":%d,"username":"postgres","password":"","dbname":"%s"}`, pg.Port, name)
	sm, err := testenv.StartSecrets(map[string]string{arn: secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sm.Close)
	bm, err := awsstore.NewDynamoBookmarks(ctx, aws.BookmarksConfig(), name)
	if err != nil {
		t.Fatal(err)
	}
	sink, err := awsstore.NewS3Sink(ctx, aws.SinkConfig(name))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ctx: ctx, pg: pg, aws: aws, bm: bm, sink: sink, dir: t.TempDir()}
	h.env = append([]string{
		"PG2S3_PIPELINE=" + name, "PG2S3_SECRET_ARN=" + arn, "PG2S3_BUCKET=lake", "PG2S3_PREFIX=" + name, "PG2S3_TABLE=pg2s3-bookmarks",
		"PG2S3_SSLMODE=disable", "PG2S3_S3_ENDPOINT=" + aws.S3.Endpoint(), "PG2S3_DYNAMODB_ENDPOINT=" + aws.Dynamo.Endpoint(),
		"PG2S3_SECRETS_ENDPOINT=" + sm.Endpoint(), "PG2S3_SAFETY_SECONDS=3",
		"AWS_REGION=" + testenv.DummyRegion, "AWS_ACCESS_KEY_ID=" + testenv.DummyAccessKeyID, "AWS_SECRET_ACCESS_KEY=" + testenv.DummySecretAccessKey,
	}, env...)
	return h
}

// build returns the bootstrap of ./name, built on first use.
func (h *harness) build(name string) string {
	h.t.Helper()
	bin := filepath.Join(h.dir, name, "bootstrap")
	if _, err := os.Stat(bin); err != nil {
		if err := testenv.BuildFunction("./"+name, bin); err != nil {
			h.t.Fatal(err)
		}
	}
	return bin
}

// invoke runs function name once under the Lambda emulator with a
// timeout, decoding its result into out; a function error is returned,
// anything else fails the test.
func (h *harness) invoke(name string, timeout time.Duration, payload string, out any) error {
	_, err := h.invokeLogs(name, timeout, payload, out)
	return err
}

// invokeLogs is invoke that also returns what the function printed (its
// JSON logs and embedded-format metrics) and the emulator's REPORT line.
func (h *harness) invokeLogs(name string, timeout time.Duration, payload string, out any) (string, error) {
	t := h.t
	t.Helper()
	r, err := testenv.StartRIE(h.build(name), h.env, timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	body, err := r.Invoke(h.ctx, []byte(payload))
	if err == nil {
		if jerr := json.Unmarshal(body, out); jerr != nil {
			t.Fatalf("%s returned %s", name, body)
		}
	}
	if err != nil && !errors.As(err, new(*testenv.FunctionError)) {
		t.Fatalf("%s: %v\n%s", name, err, r.Logs())
	}
	// The emulator prints its REPORT line (the invocation's duration)
	// just after answering.
	for wait := time.Now().Add(2 * time.Second); !strings.Contains(r.Logs(), "REPORT RequestId") && time.Now().Before(wait); {
		time.Sleep(10 * time.Millisecond)
	}
	return r.Logs(), err
}

// endpoints are the proxies in front of every endpoint a function of the
// harness calls.
type endpoints struct {
	pg, s3, dynamo, secrets *testenv.FaultProxy
}

// all returns the proxies.
func (e endpoints) all() []*testenv.FaultProxy {
	return []*testenv.FaultProxy{e.pg, e.s3, e.dynamo, e.secrets}
}

// proxied puts each endpoint of the functions behind a FaultProxy of its
// own: S3, DynamoDB, and Secrets Manager, whose secret (arn name) names
// PostgreSQL's proxy.
func (h *harness) proxied(name string) endpoints {
	t := h.t
	t.Helper()
	proxy := func(target string, seed int64) *testenv.FaultProxy {
		t.Helper()
		p, err := testenv.StartFaultProxy(strings.TrimPrefix(target, "http://"), seed)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p
	}
	var e endpoints
	e.pg = proxy(fmt.Sprintf("127.0.0.1:%d", h.pg.Port), 1)
	e.s3 = proxy(h.aws.S3.Endpoint(), 2)
	e.dynamo = proxy(h.aws.Dynamo.Endpoint(), 3)
	arn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + name
	sm, err := testenv.StartSecrets(map[string]string{arn: fmt.Sprintf(`{"host":"127.0.0.1","port":%d,"username":"postgres","password":"","dbname":"%s"}`, e.pg.Port(), name)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sm.Close)
	e.secrets = proxy(sm.Endpoint(), 4)
	// Later entries win: every endpoint through its proxy.
	h.env = append(h.env, "PG2S3_SECRET_ARN="+arn, "PG2S3_SECRETS_ENDPOINT=http://"+e.secrets.Addr,
		"PG2S3_S3_ENDPOINT=http://"+e.s3.Addr, "PG2S3_DYNAMODB_ENDPOINT=http://"+e.dynamo.Addr)
	return e
}
