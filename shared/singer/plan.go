package singer

import (
	"context"
	"sort"

	"github.com/pg2s3/pg2s3/shared/layout"
)

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
