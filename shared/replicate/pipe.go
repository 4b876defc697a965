package replicate

import (
	"context"
	"io"
	"sync"

	"github.com/pg2s3/pg2s3/shared/record"
)

// pipeObject turns the sink's fill-callback Write into a writer the
// caller pushes into, so a log drain can fill one object per stream at
// once. Each object's upload runs in its own goroutine.
type pipeObject struct {
	pw   *io.PipeWriter
	done chan pipeResult
	once sync.Once
	res  pipeResult
}

type pipeResult struct {
	info record.ObjectInfo
	err  error
}

func startObject(ctx context.Context, sink Sink, key, contentType string) *pipeObject {
	pr, pw := io.Pipe()
	o := &pipeObject{pw: pw, done: make(chan pipeResult, 1)}
	go func() {
		info, err := sink.Write(ctx, key, contentType, func(w io.Writer) error {
			_, err := io.Copy(w, pr)
			return err
		})
		pr.CloseWithError(err) // unblocks a writer if the upload failed early
		o.done <- pipeResult{info, err}
	}()
	return o
}

func (o *pipeObject) Write(p []byte) (int, error) { return o.pw.Write(p) }

// Commit ends the object and waits for its upload.
func (o *pipeObject) Commit() (record.ObjectInfo, error) {
	o.pw.Close()
	r := o.wait()
	return r.info, r.err
}

// Abort discards the object (after Commit or Abort it does nothing).
func (o *pipeObject) Abort(err error) {
	o.pw.CloseWithError(err)
	o.wait()
}

func (o *pipeObject) wait() pipeResult {
	o.once.Do(func() { o.res = <-o.done })
	return o.res
}
