// Package sqlcat opens iceberg-go's SQL catalog on a PostgreSQL database,
// which stands in for Glue where there is none (the CLI, tests, the
// demo): the catalog's two tables live in that database, the tables'
// files under a warehouse location, a local directory or s3://bucket/prefix
// (with the S3 properties of iceberg-go's io: s3.endpoint, s3.region,
// s3.access-key-id, s3.secret-access-key).
package sqlcat

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	sqlcatalog "github.com/apache/iceberg-go/catalog/sql"
	_ "github.com/apache/iceberg-go/io/gocloud/s3" // s3:// warehouses
	_ "github.com/jackc/pgx/v5/stdlib"             // database/sql's "pgx" driver
)

// Catalog is an open SQL catalog; Close closes its database handle.
type Catalog struct {
	catalog.Catalog
	db *sql.DB
}

// Close releases the catalog's connections.
func (c *Catalog) Close() error { return c.db.Close() }

// Open opens (and creates, when absent, the tables of) the SQL catalog
// named name in the PostgreSQL database at dsn, with tables under
// warehouse; props are more catalog and io properties.
func Open(ctx context.Context, dsn, name, warehouse string, props map[string]string) (*Catalog, error) {
	if !strings.Contains(warehouse, "://") {
		abs, err := filepath.Abs(warehouse)
		if err != nil {
			return nil, err
		}
		warehouse = "file://" + abs
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open the catalog database: %w", err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open the catalog database: %w", err)
	}
	p := iceberg.Properties{"warehouse": warehouse}
	for k, v := range props {
		p[k] = v
	}
	cat, err := sqlcatalog.NewCatalog(name, db, sqlcatalog.Postgres, p)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open the SQL catalog: %w", err)
	}
	return &Catalog{Catalog: cat, db: db}, nil
}
