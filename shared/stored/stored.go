// Package stored reads what a sink holds the way every reader of the
// output must: only through manifests, so a half-written batch is never
// read. It lists a stream's table versions with their copy manifests in
// sequence order (ListVersions) and indexes the log objects of slot
// batches by stream and version in log order (LoadLogIndex). pg2s3 singer
// replays from it and the Iceberg materializer applies from it.
package stored

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/replicate"
)

// Store is the part of a sink a reader needs; replicate.Sink has it.
type Store interface {
	// List returns the keys under prefix in lexical order.
	List(ctx context.Context, prefix string) ([]string, error)
	// Get reads an object.
	Get(ctx context.Context, key string) ([]byte, error)
}

// Version is one table version of a stream as the sink holds it.
type Version struct {
	Number int64
	// Manifests are the copy batches' manifest keys in sequence order.
	Manifests []string
	// HasLog says log objects exist under the version's directory.
	HasLog bool
}

// ListVersions returns the table versions stored for stream, oldest
// first, from the keys of its copy manifests and WAL data objects.
func ListVersions(ctx context.Context, st Store, stream string) ([]Version, error) {
	prefix := layout.StreamPrefix(stream)
	keys, err := st.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	type batch struct {
		seq int64
		key string
	}
	byVersion := map[int64]*Version{}
	batches := map[int64][]batch{}
	for _, k := range keys {
		o, ok := layout.ParseObject(k)
		if !ok || o.Stream != stream {
			continue // another stream whose name continues with "/", or not ours
		}
		v := byVersion[o.Version]
		if v == nil {
			v = &Version{Number: o.Version}
			byVersion[o.Version] = v
		}
		switch o.Kind {
		case layout.CopyManifest:
			batches[o.Version] = append(batches[o.Version], batch{o.Seq, k})
		case layout.WALData:
			v.HasLog = true
		}
	}
	out := make([]Version, 0, len(byVersion))
	for n, v := range byVersion {
		bs := batches[n]
		sort.Slice(bs, func(i, j int) bool { return bs[i].seq < bs[j].seq })
		for _, b := range bs {
			v.Manifests = append(v.Manifests, b.key)
		}
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// LogObject is one stream's part of a slot batch.
type LogObject struct {
	Key      string
	Version  int64
	LSNFirst uint64
	Slot     string
	Seq      int64
	// Committed is the slot's committed LSN after the batch;
	// PartialCommit and Partial say how far into the next transaction it
	// ended (zero when it ended on a commit): the slot bookmark after it.
	Committed, PartialCommit, Partial uint64
}

// LogIndex holds the log objects of the replayed streams by stream and
// table version, in log order, and the slot batches that truncated them.
type LogIndex struct {
	Objects   map[string]map[int64][]LogObject
	Truncated map[string][]Truncation
}

// Truncation is a slot batch in which a stream was truncated.
type Truncation struct {
	Manifest string
	// Committed is the slot's committed LSN after the batch: the
	// truncate happened before it.
	Committed uint64
}

// LoadLogIndex reads the slot manifests keep accepts (a few at a time;
// nil keeps all) and keeps the objects of streams. Within a version, objects are in
// log order: by the commit LSN of their first change, then by slot batch
// (a batch may end inside a transaction that the next one finishes).
func LoadLogIndex(ctx context.Context, st Store, streams map[string]bool, keep func(slot string, seq int64) bool) (*LogIndex, error) {
	keys, err := st.List(ctx, layout.SlotManifestPrefix)
	if err != nil {
		return nil, fmt.Errorf("list slot manifests: %w", err)
	}
	var manifests []string
	for _, k := range keys {
		if slot, seq, ok := layout.ParseSlotManifestKey(k); ok && (keep == nil || keep(slot, seq)) {
			manifests = append(manifests, k)
		}
	}
	type part struct {
		objects   []LogObject
		streams   []string // stream of each object
		truncated []string
		committed uint64
	}
	parts := make([]part, len(manifests))
	err = ForEach(ctx, len(manifests), 8, func(i int) error {
		body, err := st.Get(ctx, manifests[i])
		if err != nil {
			return fmt.Errorf("read slot manifest %s: %w", manifests[i], err)
		}
		var m replicate.Manifest
		if err := json.Unmarshal(body, &m); err != nil {
			return fmt.Errorf("slot manifest %s: %w", manifests[i], err)
		}
		slot, seq, _ := layout.ParseSlotManifestKey(manifests[i])
		p := &parts[i]
		p.committed = m.BookmarkAfter.CommittedLSN
		for _, o := range m.Objects {
			if streams[o.Stream] {
				p.objects = append(p.objects, LogObject{Key: o.Key, Version: o.TableVersion, LSNFirst: o.LSNFirst,
					Slot: slot, Seq: seq, Committed: m.BookmarkAfter.CommittedLSN,
					PartialCommit: m.BookmarkAfter.PartialCommitLSN, Partial: m.BookmarkAfter.PartialLSN})
				p.streams = append(p.streams, o.Stream)
			}
		}
		for _, s := range m.TruncatedStreams {
			if streams[s] {
				p.truncated = append(p.truncated, s)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ix := &LogIndex{Objects: map[string]map[int64][]LogObject{}, Truncated: map[string][]Truncation{}}
	for i, p := range parts {
		for j, o := range p.objects {
			s := p.streams[j]
			if ix.Objects[s] == nil {
				ix.Objects[s] = map[int64][]LogObject{}
			}
			ix.Objects[s][o.Version] = append(ix.Objects[s][o.Version], o)
		}
		for _, s := range p.truncated {
			ix.Truncated[s] = append(ix.Truncated[s], Truncation{Manifest: manifests[i], Committed: p.committed})
		}
	}
	for _, byVersion := range ix.Objects {
		for v, objs := range byVersion {
			sort.SliceStable(objs, func(i, j int) bool {
				a, b := objs[i], objs[j]
				if a.LSNFirst != b.LSNFirst {
					return a.LSNFirst < b.LSNFirst
				}
				if a.Slot != b.Slot {
					return a.Slot < b.Slot
				}
				return a.Seq < b.Seq
			})
			byVersion[v] = dedupe(objs)
		}
	}
	return ix, nil
}

// dedupe keeps the first entry of each object key.
func dedupe(objs []LogObject) []LogObject {
	seen := map[string]bool{}
	out := objs[:0]
	for _, o := range objs {
		if !seen[o.Key] {
			seen[o.Key] = true
			out = append(out, o)
		}
	}
	return out
}

// ForEach calls fn(0..n-1) on up to workers goroutines and returns the
// first error; after an error no new call starts.
func ForEach(ctx context.Context, n, workers int, fn func(i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range min(workers, n) {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// ReadManifest reads the manifest at key, its numbers kept exact.
func ReadManifest(ctx context.Context, st Store, key string) (*replicate.Manifest, error) {
	body, err := st.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", key, err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m replicate.Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", key, err)
	}
	return &m, nil
}
