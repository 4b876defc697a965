// Package replicate runs bounded batches: it reads from a Source, encodes,
// writes to a Sink and checkpoints Bookmarks, in that commit order. It
// declares the small interfaces it consumes; shared/postgres, awsstore and
// localstore implement them without importing this package.
package replicate

import (
	"context"
	"time"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/record"
)

// Sink stores objects under deterministic keys.
type Sink interface {
	// Create starts a data object under key: its bytes go to the sink as
	// they are written, and nothing is visible under key until Commit
	// succeeds (see record.ObjectWriter).
	Create(ctx context.Context, key, contentType string) (record.ObjectWriter, error)
	// PutIfAbsent writes a small object (a manifest) only if key holds
	// nothing. When it exists, it returns record.ErrExists and the stored
	// bytes.
	PutIfAbsent(ctx context.Context, key string, body []byte, contentType string) ([]byte, error)
	// Put writes a small object, replacing any previous one.
	Put(ctx context.Context, key string, body []byte, contentType string) error
	// Get reads a small object; record.ErrNotFound when absent.
	Get(ctx context.Context, key string) ([]byte, error)
	// List returns the keys under prefix in lexical order.
	List(ctx context.Context, prefix string) ([]string, error)
}

// Bookmarks persists one State per stream with conditional writes.
type Bookmarks interface {
	// Get returns a stream's bookmark (consistent read); Rev 0 when none.
	Get(ctx context.Context, stream string) (bookmark.Versioned, error)
	// Put writes st if the stored revision is still rev (0: absent) and
	// returns the new revision; bookmark.ErrConflict when another writer
	// moved it.
	Put(ctx context.Context, stream string, st bookmark.State, rev int64) (int64, error)
	// All returns every stream's bookmark.
	All(ctx context.Context) (map[string]bookmark.Versioned, error)
	// Delete removes a bookmark if its revision is still rev.
	Delete(ctx context.Context, stream string, rev int64) error
}

// Leaser hands out exclusive, expiring leases (one run per slot or stream).
type Leaser interface {
	// Acquire takes the lease name for owner until ttl from now, if it is
	// free, expired or already owner's (then it renews it);
	// bookmark.ErrLeaseHeld otherwise.
	Acquire(ctx context.Context, name, owner string, ttl time.Duration) error
	// Release gives the lease up if owner still holds it.
	Release(ctx context.Context, name, owner string) error
}

// TableSource reads pages of a table or view, in text form.
type TableSource interface {
	// Scan runs one page query and calls fn for each row, values in the
	// order of q.Stream.Columns. fn returning record.ErrStopPage ends
	// the page early without error.
	Scan(ctx context.Context, q record.PageQuery, fn func(row [][]byte) error) error
	// MaxKey returns the text form of the stream's largest key, nil when
	// the table is empty.
	MaxKey(ctx context.Context, s *record.Stream) ([]string, error)
	// Refresh resolves s again against the live table: its columns'
	// types now, and columns added since (record.Stream.NewColumns),
	// replicated when s.SelectNewColumns. A drain calls it when a change
	// carries a column s does not know.
	Refresh(ctx context.Context, s *record.Stream) (record.Stream, error)
	// SplitKeys returns keys of s in key order, strictly between after
	// (nil: the start) and upto, cutting that key space into ranges of
	// about rowsPerRange rows (at most layout.MaxRanges), from statistics
	// or a sample, and how it found them (see tables.Source.SplitKeys).
	SplitKeys(ctx context.Context, s *record.Stream, rowsPerRange int64, after, upto []string) ([][]string, string, error)
}
