package main

import (
	"context"
	"fmt"
	"io"

	"github.com/pg2s3/pg2s3/cmd/internal/cli"
	"github.com/pg2s3/pg2s3/shared/awsstore"
)

func init() {
	prog.Register("setup-stores", "create the DynamoDB bookmark table (and, on a local S3-compatible server, the bucket)", runSetupStores)
}

// runSetupStores creates what the AWS stores need. The bookmark table is
// created (on-demand, key pipeline + stream) or checked when it exists.
// The bucket is created only on an S3-compatible server (sink.endpoint
// set); in AWS the CDK stack owns it with its encryption and policies, so
// it is only checked.
func runSetupStores(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := prog.NewFlags("setup-stores", stderr)
	cfgPath := fs.String("config", "config.json", "config file (JSON)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := cli.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	did := false
	if cfg.Bookmarks.Type == "dynamodb" {
		did = true
		d, err := awsstore.NewDynamoBookmarks(ctx, cfg.Bookmarks, cfg.Pipeline)
		if err != nil {
			return err
		}
		created, err := d.CreateTable(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "dynamodb table %s: %s\n", d.Table(), createdOr(created, "created", "exists, key schema ok"))
	}
	if cfg.Sink.Type == "s3" {
		did = true
		s, err := awsstore.NewS3Sink(ctx, cfg.Sink)
		if err != nil {
			return err
		}
		created, err := s.EnsureBucket(ctx, cfg.Sink.Endpoint != "")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "s3 bucket %s: %s\n", s.Bucket(), createdOr(created, "created", "exists"))
	}
	if !did {
		fmt.Fprintln(stdout, "nothing to set up: the sink is a local directory and bookmarks are a file")
	}
	return nil
}

func createdOr(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}
