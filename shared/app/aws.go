package app

import (
	"context"
	"fmt"

	"github.com/pg2s3/pg2s3/shared/awsstore"
	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/replicate"
)

func openAWSSink(ctx context.Context, cfg *config.Config) (replicate.Sink, string, error) {
	s, err := awsstore.NewS3Sink(ctx, cfg.Sink)
	if err != nil {
		return nil, "", err
	}
	return s, fmt.Sprintf("s3://%s/%s", cfg.Sink.Bucket, cfg.Sink.Prefix), nil
}

func openAWSBookmarks(ctx context.Context, cfg *config.Config) (replicate.Bookmarks, replicate.Leaser, string, error) {
	d, err := awsstore.NewDynamoBookmarks(ctx, cfg.Bookmarks, cfg.Pipeline)
	if err != nil {
		return nil, nil, "", err
	}
	return d, d, "DynamoDB table " + cfg.Bookmarks.Table, nil
}
