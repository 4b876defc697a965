package awsstore_test

import (
	"github.com/pg2s3/pg2s3/shared/awsstore"
	"github.com/pg2s3/pg2s3/shared/replicate"
)

// The stores have the methods replicate consumes (awsstore itself never
// imports replicate).
var (
	_ replicate.Sink      = (*awsstore.S3Sink)(nil)
	_ replicate.Bookmarks = (*awsstore.DynamoBookmarks)(nil)
	_ replicate.Leaser    = (*awsstore.DynamoBookmarks)(nil)
)
