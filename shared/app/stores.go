package app

import (
	"context"
	"fmt"

	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/localstore"
	"github.com/pg2s3/pg2s3/shared/replicate"
)

// Stores are the sink, the bookmark store and its leases.
type Stores struct {
	Sink      replicate.Sink
	Bookmarks replicate.Bookmarks
	Leaser    replicate.Leaser
	// Where says where output and bookmarks go, for people.
	Where string
}

// OpenStores opens the stores named by cfg.
func OpenStores(ctx context.Context, cfg *config.Config) (Stores, error) {
	var st Stores
	var sinkWhere, bmWhere string
	switch cfg.Sink.Type {
	case "local":
		d, err := localstore.NewDir(cfg.Sink.Path)
		if err != nil {
			return st, err
		}
		st.Sink, sinkWhere = d, cfg.Sink.Path
	default:
		s, where, err := openAWSSink(ctx, cfg)
		if err != nil {
			return st, err
		}
		st.Sink, sinkWhere = s, where
	}
	switch cfg.Bookmarks.Type {
	case "file":
		f, err := localstore.NewFile(cfg.Bookmarks.Path)
		if err != nil {
			return st, err
		}
		st.Bookmarks, st.Leaser, bmWhere = f, f, cfg.Bookmarks.Path
	default:
		b, l, where, err := openAWSBookmarks(ctx, cfg)
		if err != nil {
			return st, err
		}
		st.Bookmarks, st.Leaser, bmWhere = b, l, where
	}
	st.Where = fmt.Sprintf("output in %s, bookmarks in %s", sinkWhere, bmWhere)
	return st, nil
}
