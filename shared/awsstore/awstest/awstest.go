// Package awstest starts local S3- and DynamoDB-compatible servers with a
// bucket and a bookmark table ready, for tests that run pipelines on the
// AWS stores. (It is apart from testenv, which awsstore's own tests use,
// because creating the table needs awsstore.)
package awstest

import (
	"context"
	"testing"

	"github.com/pg2s3/pg2s3/shared/awsstore"
	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// Stores are running servers holding Bucket and Table.
type Stores struct {
	S3     *testenv.S3Server
	Dynamo *testenv.DynamoServer
	Bucket string
	Table  string
}

// Start starts both servers (stopped when the test ends), creates bucket
// and the bookmark table, and sets the dummy credentials the SDK's default
// chain reads for the rest of the test.
func Start(t testing.TB, bucket, table string) *Stores {
	t.Helper()
	s3, err := testenv.StartS3()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s3.Close)
	dyn, err := testenv.StartDynamo()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dyn.Close)
	if err := s3.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", testenv.DummyAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testenv.DummySecretAccessKey)
	s := &Stores{S3: s3, Dynamo: dyn, Bucket: bucket, Table: table}
	bm, err := awsstore.NewDynamoBookmarks(context.Background(), s.BookmarksConfig(), "setup")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bm.CreateTable(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// SinkConfig is an s3 sink on the server's bucket under prefix.
func (s *Stores) SinkConfig(prefix string) config.Sink {
	return config.Sink{Type: "s3", Bucket: s.Bucket, Prefix: prefix, Region: testenv.DummyRegion, Endpoint: s.S3.Endpoint(), PartSizeMB: 5, Concurrency: 2}
}

// BookmarksConfig is the DynamoDB bookmark store on the server's table.
func (s *Stores) BookmarksConfig() config.Bookmarks {
	return config.Bookmarks{Type: "dynamodb", Table: s.Table, Region: testenv.DummyRegion, Endpoint: s.Dynamo.Endpoint()}
}

// ConfigKeys are the "sink" and "bookmarks" keys of a config file for these
// stores.
func (s *Stores) ConfigKeys(prefix string) map[string]any {
	return map[string]any{
		"sink":      map[string]any{"type": "s3", "bucket": s.Bucket, "prefix": prefix, "region": testenv.DummyRegion, "endpoint": s.S3.Endpoint()},
		"bookmarks": map[string]any{"type": "dynamodb", "table": s.Table, "region": testenv.DummyRegion, "endpoint": s.Dynamo.Endpoint()},
	}
}
