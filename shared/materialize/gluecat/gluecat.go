// Package gluecat opens iceberg-go's AWS Glue catalog for the
// materializer: the tables are Glue tables of one database (the
// pipeline's), their files under a warehouse in S3 (the pipeline's
// bucket, s3://<bucket>/<prefix>/_iceberg). Glue's optimistic locking
// (UpdateTable with the VersionId read) makes a lost race a failed
// commit, never a silent overwrite. The AWS configuration is the
// stores' (awsstore.Config); endpoints point it at compatible servers
// (the tests' Glue stand-in and S3 server).
package gluecat

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/glue"
	"github.com/apache/iceberg-go/io"
	_ "github.com/apache/iceberg-go/io/gocloud/s3" // s3:// warehouses

	"github.com/pg2s3/pg2s3/shared/awsstore"
)

// Settings say where the catalog and the tables' files are.
type Settings struct {
	// Warehouse is where new tables' files go: s3://bucket/prefix.
	Warehouse string
	// Region of Glue and the bucket; empty: AWS_REGION.
	Region string
	// GlueEndpoint and S3Endpoint, when set, replace AWS's (tests).
	GlueEndpoint string
	S3Endpoint   string
}

// Warehouse is the warehouse location of a pipeline whose sink is
// s3://bucket/prefix: the _iceberg folder below the prefix.
func Warehouse(bucket, prefix string) string {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return "s3://" + bucket + "/_iceberg"
	}
	return "s3://" + bucket + "/" + prefix + "/_iceberg"
}

// Open returns the Glue catalog with s.
func Open(ctx context.Context, s Settings) (catalog.Catalog, error) {
	if !strings.HasPrefix(s.Warehouse, "s3://") {
		return nil, fmt.Errorf("glue catalog: warehouse %q is not an s3:// location", s.Warehouse)
	}
	cfg, err := awsstore.Config(ctx, "glue", s.Region, s.GlueEndpoint)
	if err != nil {
		return nil, err
	}
	props := glue.AwsProperties{"warehouse": strings.TrimSuffix(s.Warehouse, "/"), io.S3Region: cfg.Region}
	if s.S3Endpoint != "" {
		props[io.S3EndpointURL] = s.S3Endpoint
	}
	return glue.NewCatalog(glue.WithAwsConfig(cfg), glue.WithAwsProperties(props))
}
