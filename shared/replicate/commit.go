package replicate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/encode"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
)

// pendingObject is a data object of an open batch: its writer, the
// encoder writing into it, and what the manifest will say of it.
type pendingObject struct {
	key    string
	w      record.ObjectWriter
	out    encode.LineWriter
	meta   ManifestObject
	closed bool // out is closed (see finish)
}

// commitStep is one batch on its way to being durable. Copies and drains
// both commit through Engine.commit, so the order below is written once.
type commitStep struct {
	objects []*pendingObject
	// manifest is written under manifestKey (none when empty, a slot batch
	// that wrote nothing but still moves the slot); its Objects are filled
	// in as the objects commit.
	manifest    *Manifest
	manifestKey string
	// The bookmark item moves from rev to next.
	bookmarkID string
	next       bookmark.State
	rev        int64
	// afterCommit runs once the bookmark says the batch is durable (a
	// drain acknowledges the slot there); an error leaves the batch
	// committed.
	afterCommit func(context.Context) error
}

// commit makes a batch durable in the one order every batch uses: its
// data objects, then its manifest (create-if-absent; a redo of the same
// batch replaces it), then the version marker the batch activates, then
// the conditional bookmark, and only then afterCommit. A failure at any
// step leaves the bookmark where it was, so the next run redoes the batch
// onto the same keys. It returns the bookmark's new revision.
func (e *Engine) commit(ctx context.Context, c *commitStep) (int64, error) {
	for i, o := range c.objects {
		info, err := o.commit()
		if err != nil {
			abortObjects(c.objects[i+1:])
			return 0, err
		}
		o.meta.ObjectInfo = info
		c.manifest.Objects = append(c.manifest.Objects, o.meta)
	}
	if c.manifestKey != "" {
		if err := putManifest(ctx, e.Sink, c.manifestKey, c.manifest); err != nil {
			return 0, err
		}
		if err := e.activate(ctx, c.manifest); err != nil {
			return 0, err
		}
	}
	rev, err := e.Bookmarks.Put(ctx, c.bookmarkID, c.next, c.rev)
	if err != nil {
		if errors.Is(err, bookmark.ErrConflict) {
			return 0, fmt.Errorf("commit batch %d of %s: %w: another run moved it; stopping", c.manifest.Sequence, c.bookmarkID, err)
		}
		return 0, fmt.Errorf("commit batch %d of %s: %w", c.manifest.Sequence, c.bookmarkID, err)
	}
	if c.afterCommit != nil {
		if err := c.afterCommit(ctx); err != nil {
			return rev, err
		}
	}
	return rev, nil
}

// finish ends the object's encoding (the gzip trailer, the Parquet
// footer): the encoder's work and memory end here, before the commit.
// It is done once; commit calls it when no one did.
func (o *pendingObject) finish() error {
	if o.closed {
		return nil
	}
	o.closed = true
	if err := o.out.Close(); err != nil {
		o.abort()
		return writeErr(o.key, err)
	}
	return nil
}

// commit ends the object's encoding and commits it to the sink.
func (o *pendingObject) commit() (record.ObjectInfo, error) {
	if err := o.finish(); err != nil {
		return record.ObjectInfo{}, err
	}
	info, err := o.w.Commit()
	if err != nil {
		return record.ObjectInfo{}, writeErr(o.key, err)
	}
	o.meta.PlainBytes = o.out.PlainBytes()
	return info, nil
}

// writeErr names the object a write failed on, unless the error does
// already (the sinks' own errors do: "write KEY: ...").
func writeErr(key string, err error) error {
	if strings.Contains(err.Error(), key) {
		return err
	}
	return fmt.Errorf("write %s: %w", key, err)
}

func abortObjects(objs []*pendingObject) {
	for _, o := range objs {
		o.abort()
	}
}

// abort drops the object: its encoder first, when it writes from a
// goroutine of its own (Parquet), so nothing writes to the object once
// it is aborted.
func (o *pendingObject) abort() {
	if a, ok := o.out.(interface{ Abort() }); ok {
		a.Abort()
	}
	o.w.Abort()
}

// createObject starts a data object of the engine's format for stream s.
func (e *Engine) createObject(ctx context.Context, key string, s *record.Stream) (*pendingObject, error) {
	format := e.format()
	w, err := e.Sink.Create(ctx, key, encode.ContentType(format))
	if err != nil {
		return nil, writeErr(key, err)
	}
	out, err := encode.NewLineWriter(format, w, s)
	if err != nil {
		w.Abort()
		return nil, writeErr(key, err)
	}
	return &pendingObject{key: key, w: w, out: out}, nil
}

// activate writes the activation marker when batch m makes its version
// the one to read.
func (e *Engine) activate(ctx context.Context, m *Manifest) error {
	if !m.VersionComplete && !(m.Method == layout.Incremental && m.VersionStarted) {
		return nil
	}
	body, _ := json.Marshal(Activation{Stream: m.TapStreamID, TableVersion: m.TableVersion, Method: m.Method, ActivatedAt: m.ExtractedAt})
	key := layout.ActivationKey(m.TapStreamID, m.TableVersion)
	if err := e.Sink.Put(ctx, key, append(body, '\n'), "application/x-ndjson"); err != nil {
		return fmt.Errorf("write version marker %s: %w", key, err)
	}
	return nil
}
