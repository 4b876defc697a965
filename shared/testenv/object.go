package testenv

import (
	"context"
	"io"

	"github.com/pg2s3/pg2s3/shared/record"
)

// ObjectCreator is a sink as far as writing objects goes.
type ObjectCreator interface {
	Create(ctx context.Context, key, contentType string) (record.ObjectWriter, error)
}

// WriteObject writes one object whose bytes fill produces, committing it
// when fill succeeds and aborting it otherwise (tests of the sinks).
func WriteObject(ctx context.Context, sink ObjectCreator, key, contentType string, fill func(io.Writer) error) (record.ObjectInfo, error) {
	w, err := sink.Create(ctx, key, contentType)
	if err != nil {
		return record.ObjectInfo{}, err
	}
	if err := fill(w); err != nil {
		w.Abort()
		return record.ObjectInfo{}, err
	}
	return w.Commit()
}
