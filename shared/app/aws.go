package app

import (
	"context"
	"fmt"

	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/replicate"
)

func openAWSSink(ctx context.Context, cfg *config.Config) (replicate.Sink, string, error) {
	return nil, "", fmt.Errorf("sink type %q is not available yet", cfg.Sink.Type)
}

func openAWSBookmarks(ctx context.Context, cfg *config.Config) (replicate.Bookmarks, replicate.Leaser, string, error) {
	return nil, nil, "", fmt.Errorf("bookmarks type %q is not available yet", cfg.Bookmarks.Type)
}
