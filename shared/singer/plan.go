package singer

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/replicate"
)

// version is one table version of a stream as the sink holds it.
type version struct {
	number int64
	// manifests are the copy batches' manifest keys in sequence order.
	manifests []string
	// hasLog says log objects exist under the version's directory.
	hasLog bool
}

// listVersions returns the table versions stored for stream, oldest
// first, from the keys of its copy manifests and WAL data objects.
func listVersions(ctx context.Context, st Store, stream string) ([]version, error) {
	prefix := layout.StreamPrefix(stream)
	keys, err := st.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	type batch struct {
		seq int64
		key string
	}
	byVersion := map[int64]*version{}
	batches := map[int64][]batch{}
	for _, k := range keys {
		o, ok := layout.ParseObject(k)
		if !ok || o.Stream != stream {
			continue // another stream whose name continues with "/", or not ours
		}
		v := byVersion[o.Version]
		if v == nil {
			v = &version{number: o.Version}
			byVersion[o.Version] = v
		}
		switch o.Kind {
		case layout.CopyManifest:
			batches[o.Version] = append(batches[o.Version], batch{o.Seq, k})
		case layout.WALData:
			v.hasLog = true
		}
	}
	out := make([]version, 0, len(byVersion))
	for n, v := range byVersion {
		bs := batches[n]
		sort.Slice(bs, func(i, j int) bool { return bs[i].seq < bs[j].seq })
		for _, b := range bs {
			v.manifests = append(v.manifests, b.key)
		}
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].number < out[j].number })
	return out, nil
}

// logObject is one stream's part of a slot batch.
type logObject struct {
	key      string
	version  int64
	lsnFirst uint64
	slot     string
	seq      int64
	// committed is the slot's committed LSN after the batch.
	committed uint64
}

// logIndex holds the log objects of the replayed streams by stream and
// table version, in log order, and the slot batches that truncated them.
type logIndex struct {
	objects   map[string]map[int64][]logObject
	truncated map[string][]truncation
}

// truncation is a slot batch in which a stream was truncated.
type truncation struct {
	manifest string
	// committed is the slot's committed LSN after the batch: the
	// truncate happened before it.
	committed uint64
}

// loadLogIndex reads every slot manifest (a few at a time)
// and keeps the objects of streams. Within a version, objects are in
// log order: by the commit LSN of their first change, then by slot batch
// (a batch may end inside a transaction that the next one finishes).
func loadLogIndex(ctx context.Context, st Store, streams map[string]bool) (*logIndex, error) {
	keys, err := st.List(ctx, layout.SlotManifestPrefix)
	if err != nil {
		return nil, fmt.Errorf("list slot manifests: %w", err)
	}
	var manifests []string
	for _, k := range keys {
		if _, _, ok := layout.ParseSlotManifestKey(k); ok {
			manifests = append(manifests, k)
		}
	}
	type part struct {
		objects   []logObject
		streams   []string // stream of each object
		truncated []string
		committed uint64
	}
	parts := make([]part, len(manifests))
	err = forEach(ctx, len(manifests), 8, func(i int) error {
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
				p.objects = append(p.objects, logObject{key: o.Key, version: o.TableVersion, lsnFirst: o.LSNFirst,
					slot: slot, seq: seq, committed: m.BookmarkAfter.CommittedLSN})
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
	ix := &logIndex{objects: map[string]map[int64][]logObject{}, truncated: map[string][]truncation{}}
	for i, p := range parts {
		for j, o := range p.objects {
			s := p.streams[j]
			if ix.objects[s] == nil {
				ix.objects[s] = map[int64][]logObject{}
			}
			ix.objects[s][o.version] = append(ix.objects[s][o.version], o)
		}
		for _, s := range p.truncated {
			ix.truncated[s] = append(ix.truncated[s], truncation{manifest: manifests[i], committed: p.committed})
		}
	}
	for _, byVersion := range ix.objects {
		for v, objs := range byVersion {
			sort.SliceStable(objs, func(i, j int) bool {
				a, b := objs[i], objs[j]
				if a.lsnFirst != b.lsnFirst {
					return a.lsnFirst < b.lsnFirst
				}
				if a.slot != b.slot {
					return a.slot < b.slot
				}
				return a.seq < b.seq
			})
			byVersion[v] = dedupe(objs)
		}
	}
	return ix, nil
}

// dedupe keeps the first entry of each object key.
func dedupe(objs []logObject) []logObject {
	seen := map[string]bool{}
	out := objs[:0]
	for _, o := range objs {
		if !seen[o.key] {
			seen[o.key] = true
			out = append(out, o)
		}
	}
	return out
}

// forEach calls fn(0..n-1) on up to workers goroutines and returns the
// first error; after an error no new call starts.
func forEach(ctx context.Context, n, workers int, fn func(i int) error) error {
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

// KnownStreams returns the streams with an activated table version in
// st (version markers) together with extra (for example the bookmark
// store's streams), sorted and without duplicates.
func KnownStreams(ctx context.Context, st Store, extra []string) []string {
	set := map[string]bool{}
	for _, s := range extra {
		if layout.IsStreamID(s) {
			set[s] = true
		}
	}
	if keys, err := st.List(ctx, layout.VersionsPrefix); err == nil {
		for _, k := range keys {
			if stream, _, ok := layout.ParseActivationKey(k); ok {
				set[stream] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}
