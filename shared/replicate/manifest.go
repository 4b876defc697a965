package replicate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
)

// Manifest describes one committed batch. It is written after the batch's
// data objects and before the bookmark moves: a loader that reads only
// manifests never sees a half-written batch.
type Manifest struct {
	Format       string        `json:"format"`      // layout.ManifestFormat
	DataFormat   layout.Format `json:"data_format"` // of the data objects: "jsonl" (gzip JSON Lines) or "parquet"
	Stream       string        `json:"stream"`
	TapStreamID  string        `json:"tap_stream_id"`
	Schema       string        `json:"schema_name"`
	Table        string        `json:"table_name"`
	Method       layout.Method `json:"replication_method"`
	TableVersion int64         `json:"table_version"`
	Sequence     int64         `json:"sequence"`
	// VersionStarted marks the first batch of a table version;
	// VersionComplete the last batch of a finished copy: from then on a
	// loader may drop rows of older versions (Singer's ACTIVATE_VERSION).
	VersionStarted  bool             `json:"version_started"`
	VersionComplete bool             `json:"version_complete"`
	JSONSchema      map[string]any   `json:"schema,omitempty"`
	KeyProperties   []string         `json:"key_properties"`
	ReplicationKey  string           `json:"replication_key,omitempty"`
	Objects         []ManifestObject `json:"objects"`
	Rows            int64            `json:"rows"`
	// TruncatedStreams lists streams truncated within a log batch: a
	// loader empties them at this point of the stream.
	TruncatedStreams []string       `json:"truncated_streams,omitempty"`
	LSNFirst         uint64         `json:"lsn_first,omitempty"`
	LSNLast          uint64         `json:"lsn_last,omitempty"`
	ExtractedAt      string         `json:"extracted_at"`
	BookmarkBefore   bookmark.State `json:"bookmark_before"`
	BookmarkAfter    bookmark.State `json:"bookmark_after"`
}

// ManifestObject is one data object of a batch.
type ManifestObject struct {
	record.ObjectInfo
	Rows       int64 `json:"rows"`
	PlainBytes int64 `json:"uncompressed_bytes"`
	// Columns are the table columns the object's rows hold (the stream's
	// selected columns when it was written, in table order), besides the
	// _sdc_* fields. A log row may still leave one out: an unchanged
	// TOASTed value, a delete's non-key columns.
	Columns []string `json:"columns"`
	// Log batches name each object's stream and version and the commit
	// LSNs of its first and last change.
	Stream       string `json:"stream,omitempty"`
	TableVersion int64  `json:"table_version,omitempty"`
	LSNFirst     uint64 `json:"lsn_first,omitempty"`
	LSNLast      uint64 `json:"lsn_last,omitempty"`
}

// putManifest writes m under key unless another writer's manifest is
// there. A manifest left by an earlier attempt of this same batch (same
// bookmark before; the attempt died before moving the bookmark) is
// replaced; any other existing manifest is a conflict.
func putManifest(ctx context.Context, sink Sink, key string, m *Manifest) error {
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	old, err := sink.PutIfAbsent(ctx, key, body, "application/json")
	if err == nil {
		return nil
	}
	if !errors.Is(err, record.ErrExists) {
		return fmt.Errorf("write manifest %s: %w", key, err)
	}
	if bytes.Equal(old, body) {
		return nil
	}
	var prev Manifest
	if jerr := json.Unmarshal(old, &prev); jerr == nil && sameBookmark(prev.BookmarkBefore, m.BookmarkBefore) {
		if err := sink.Put(ctx, key, body, "application/json"); err != nil {
			return fmt.Errorf("rewrite manifest %s: %w", key, err)
		}
		return nil
	}
	return fmt.Errorf("write manifest %s: a different manifest for this batch exists: another run is writing this stream (%w)", key, bookmark.ErrConflict)
}

func sameBookmark(a, b bookmark.State) bool {
	a.UpdatedAt, b.UpdatedAt = time.Time{}, time.Time{}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// Activation marks the table version a query should read: written once a
// copy's version is complete (FULL_TABLE, LOG_BASED) or with the first
// batch of an INCREMENTAL version, under layout.ActivationKey as one JSON
// line, so query engines can read all markers as one table.
// It is written after the batch's manifest and before its bookmark: a redo
// writes the same marker again.
type Activation struct {
	Stream       string        `json:"stream"`
	TableVersion int64         `json:"table_version"`
	Method       layout.Method `json:"replication_method"`
	ActivatedAt  string        `json:"activated_at"`
}
