package app

import (
	"context"
	"fmt"
	"slices"

	"github.com/pg2s3/pg2s3/shared/layout"
)

// Deleter is a sink that can remove objects (both real sinks can).
type Deleter interface {
	Delete(ctx context.Context, keys []string) error
}

// PrunedStream is what pruning removes, or would remove, of one stream.
type PrunedStream struct {
	Stream string `json:"stream"`
	// Kept are the activated versions kept (newest first); Versions the
	// older ones removed, with their Objects (data, manifests, markers).
	Kept     []int64 `json:"kept"`
	Versions []int64 `json:"versions"`
	Objects  int     `json:"objects"`
}

// Prune removes the table versions no reader needs any more: per stream,
// every version older than its newest keep activated ones (see the
// version markers). A version being copied is newer than the active one,
// so it is never touched; streams without a marker are left alone. With
// dryRun nothing is deleted. Data goes first, markers last, so an
// interrupted prune leaves nothing a reader would pick.
func (a *App) Prune(ctx context.Context, keep int, dryRun bool) ([]PrunedStream, error) {
	if keep < 1 {
		return nil, fmt.Errorf("keep at least 1 version, not %d", keep)
	}
	del, ok := a.Stores.Sink.(Deleter)
	if !ok && !dryRun {
		return nil, fmt.Errorf("the sink (%s) cannot delete objects", a.Stores.Where)
	}
	markers, err := a.Stores.Sink.List(ctx, layout.VersionsPrefix)
	if err != nil {
		return nil, fmt.Errorf("list version markers: %w", err)
	}
	active := map[string][]int64{} // stream -> activated versions
	for _, k := range markers {
		if stream, v, ok := layout.ParseActivationKey(k); ok {
			active[stream] = append(active[stream], v)
		}
	}
	var out []PrunedStream
	for _, stream := range sortedKeys(active) {
		versions := active[stream]
		slices.Sort(versions)
		slices.Reverse(versions)
		if len(versions) <= keep {
			continue
		}
		cutoff := versions[keep-1] // the oldest version kept
		p := PrunedStream{Stream: stream, Kept: versions[:keep], Versions: versions[keep:]}
		keys, err := a.Stores.Sink.List(ctx, layout.StreamPrefix(stream))
		if err != nil {
			return out, fmt.Errorf("list %s: %w", stream, err)
		}
		var doomed []string
		for _, k := range keys {
			if of, v, ok := layout.ParseVersionFolder(k); ok && of == stream && v < cutoff {
				doomed = append(doomed, k)
				if !slices.Contains(p.Versions, v) {
					p.Versions = append(p.Versions, v) // copied but never activated
				}
			}
		}
		for _, v := range p.Versions {
			if slices.Contains(versions, v) {
				doomed = append(doomed, layout.ActivationKey(stream, v))
			}
		}
		p.Objects = len(doomed)
		slices.Sort(p.Versions)
		if !dryRun {
			if err := del.Delete(ctx, doomed); err != nil {
				return out, fmt.Errorf("prune %s: %w", stream, err)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
