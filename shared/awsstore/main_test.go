package awsstore

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// The servers every test in this package talks to, started once.
var (
	s3srv  *testenv.S3Server
	dynsrv *testenv.DynamoServer
)

const (
	testBucket = "pg2s3-bucket"
	testTable  = "pg2s3-bookmarks-test"
)

// memChildEnv, when set, makes this binary the client half of
// TestWriteLargeFlatMemory: it needs no servers of its own.
const memChildEnv = "PG2S3_MEM_CHILD_ENDPOINT"

func TestMain(m *testing.M) {
	if os.Getenv(memChildEnv) != "" {
		os.Exit(m.Run())
	}
	os.Exit(runWithServers(m))
}

func runWithServers(m *testing.M) int {
	var err error
	if s3srv, err = testenv.StartS3(); err != nil {
		fmt.Fprintln(os.Stderr, "start s3 server:", err)
		return 1
	}
	defer s3srv.Close()
	if err := s3srv.CreateBucket(testBucket); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if dynsrv, err = testenv.StartDynamo(); err != nil {
		fmt.Fprintln(os.Stderr, "start dynamodb server:", err)
		return 1
	}
	defer dynsrv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := NewDynamoBookmarks(ctx, bookmarksConfig(testTable), "setup", testCreds())
	if err == nil {
		_, err = d.CreateTable(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "create bookmark table:", err)
		return 1
	}
	return m.Run()
}

func testCreds() Option {
	return WithStaticCredentials(testenv.DummyAccessKeyID, testenv.DummySecretAccessKey)
}

// fast makes an outage fail within a second instead of several.
func fast() Option { return WithRetries(2, 100*time.Millisecond) }

var seq atomic.Int64

// unique returns a name no other test uses.
func unique(base string) string {
	return fmt.Sprintf("%s-%d-%d", base, time.Now().UnixNano()%1e6, seq.Add(1))
}

func sinkConfig(endpoint, bucket, prefix string) config.Sink {
	return config.Sink{Type: "s3", Bucket: bucket, Prefix: prefix, Region: testenv.DummyRegion,
		Endpoint: endpoint, PartSizeMB: 5, Concurrency: 2}
}

func bookmarksConfig(table string) config.Bookmarks {
	return config.Bookmarks{Type: "dynamodb", Table: table, Region: testenv.DummyRegion, Endpoint: dynsrv.Endpoint()}
}

// newSink returns a sink on the test bucket under a prefix of its own.
func newSink(t *testing.T, opts ...Option) *S3Sink {
	t.Helper()
	return newSinkWith(t, sinkConfig(s3srv.Endpoint(), testBucket, unique(strings.ReplaceAll(t.Name(), "/", "_"))), opts...)
}

func newSinkWith(t *testing.T, cfg config.Sink, opts ...Option) *S3Sink {
	t.Helper()
	s, err := NewS3Sink(context.Background(), cfg, append([]Option{testCreds()}, opts...)...)
	if err != nil {
		t.Fatalf("NewS3Sink: %v", err)
	}
	return s
}

// newBookmarks returns a store for a pipeline of its own.
func newBookmarks(t *testing.T, opts ...Option) *DynamoBookmarks {
	t.Helper()
	d, err := NewDynamoBookmarks(context.Background(), bookmarksConfig(testTable), unique("pipe"), append([]Option{testCreds()}, opts...)...)
	if err != nil {
		t.Fatalf("NewDynamoBookmarks: %v", err)
	}
	return d
}

// assertExplained checks that err is one line holding every want and no
// credential.
func assertExplained(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one mentioning %q", want)
	}
	msg := err.Error()
	t.Logf("error: %s", msg)
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans lines: %q", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not mention %q", msg, w)
		}
	}
	for _, secret := range []string{testenv.DummySecretAccessKey, testenv.DummyAccessKeyID} {
		if strings.Contains(msg, secret) {
			t.Errorf("error %q holds a credential", msg)
		}
	}
}
