package awsstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/record"
)

// S3Sink stores objects in one bucket under an optional prefix. Callers
// pass keys without the prefix; the sink puts "<prefix>/" in front and
// ObjectInfo and List speak the caller's keys.
type S3Sink struct {
	client      *s3.Client
	partSize    int // bytes in each part of a multipart upload
	concurrency int // parts uploading at once
	bucket      string
	prefix      string // "" or ends with "/"
	sse         types.ServerSideEncryption
	kmsKeyID    string
	where       where
}

// Default upload tuning when the config leaves it zero.
const (
	// abortGrace is how long a cancelled Write may take to abort its
	// multipart upload.
	abortGrace = 10 * time.Second

	defaultPartSizeMB  = 16
	defaultConcurrency = 4
)

// NewS3Sink returns a sink writing to cfg.Bucket. Credentials come from the
// default AWS chain unless an Option says otherwise. With cfg.Endpoint set
// (an S3-compatible server) requests use path-style addressing.
func NewS3Sink(ctx context.Context, cfg config.Sink, opts ...Option) (*S3Sink, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("sink.bucket: required for an s3 sink")
	}
	acfg, err := loadConfig(ctx, "sink", cfg.Region, cfg.Endpoint, opts)
	if err != nil {
		return nil, err
	}
	client := s3.NewFromConfig(acfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
			o.UsePathStyle = true
		}
	})
	part := cfg.PartSizeMB
	if part <= 0 {
		part = defaultPartSizeMB
	}
	conc := cfg.Concurrency
	if conc <= 0 {
		conc = defaultConcurrency
	}
	s := &S3Sink{
		client:      client,
		partSize:    max(part, 5) << 20, // S3's least part size
		concurrency: conc,
		bucket:      cfg.Bucket,
		kmsKeyID:    cfg.KMSKeyID,
		where:       where{region: acfg.Region, endpoint: cfg.Endpoint},
	}
	if p := strings.Trim(cfg.Prefix, "/"); p != "" {
		s.prefix = p + "/"
	}
	switch cfg.SSE {
	case "":
	case "AES256":
		s.sse = types.ServerSideEncryptionAes256
	case "aws:kms":
		s.sse = types.ServerSideEncryptionAwsKms
	default:
		return nil, fmt.Errorf("sink.sse: %q is not AES256 or aws:kms", cfg.SSE)
	}
	return s, nil
}

// Bucket is the sink's bucket name.
func (s *S3Sink) Bucket() string { return s.bucket }

func (s *S3Sink) fullKey(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") {
		return "", fmt.Errorf("object key %q: must be non-empty and relative", key)
	}
	return s.prefix + key, nil
}

func (s *S3Sink) putInput(full, contentType string, body io.Reader) *s3.PutObjectInput {
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	in := &s3.PutObjectInput{
		Bucket:      aws.String(s.bucket),
		Key:         aws.String(full),
		Body:        body,
		ContentType: aws.String(contentType),
		// No ContentEncoding: a .gz object is a gzip file, not a
		// transfer-encoded JSON document.
	}
	in.ServerSideEncryption, in.SSEKMSKeyId = s.sseHeaders()
	return in
}

// sseHeaders are the server-side encryption settings of every write.
func (s *S3Sink) sseHeaders() (types.ServerSideEncryption, *string) {
	if s.sse == "" || s.kmsKeyID == "" {
		return s.sse, nil
	}
	return s.sse, aws.String(s.kmsKeyID)
}

// Create starts an object. Its bytes go up in parts of PartSizeMB, at most
// Concurrency parts in flight while the next one fills, so memory stays
// flat whatever the object's size; an object smaller than one part goes
// up in one PutObject at Commit. Nothing is visible under key until Commit
// succeeds; Abort, a failed Commit or a cancelled ctx leave no object and
// no multipart upload behind.
func (s *S3Sink) Create(ctx context.Context, key, contentType string) (record.ObjectWriter, error) {
	full, err := s.fullKey(key)
	if err != nil {
		return nil, err
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	return &s3Object{s: s, ctx: ctx, key: key, full: full, contentType: contentType, h: sha256.New(),
		inFlight: make(chan struct{}, s.concurrency), free: make(chan []byte, s.concurrency+1)}, nil
}

// s3Object is an object being uploaded. Write, Commit and Abort belong to
// one goroutine; part uploads run on their own.
type s3Object struct {
	s                      *S3Sink
	ctx                    context.Context
	key, full, contentType string
	h                      hash.Hash
	n                      int64
	buf                    []byte // the part being filled
	uploadID               string // set once the first part goes up
	nextPart               int32
	inFlight               chan struct{} // one token per part uploading
	free                   chan []byte   // part buffers to reuse
	wg                     sync.WaitGroup
	done                   bool // committed or aborted

	mu    sync.Mutex
	parts []types.CompletedPart
	err   error // the first failure, explained
}

func (o *s3Object) Write(p []byte) (int, error) {
	if o.done {
		return 0, fmt.Errorf("write %s: the object is closed", o.key)
	}
	written := 0
	for len(p) > 0 {
		if err := o.failed(); err != nil {
			return written, err
		}
		if o.buf == nil {
			o.buf = o.newBuffer()
		}
		n := min(len(p), o.s.partSize-len(o.buf))
		if cap(o.buf)-len(o.buf) < n { // the first buffer grows toward a part
			nb := make([]byte, len(o.buf), min(o.s.partSize, max(2*cap(o.buf), len(o.buf)+n)))
			copy(nb, o.buf)
			o.buf = nb
		}
		o.buf = append(o.buf, p[:n]...)
		o.h.Write(p[:n])
		o.n += int64(n)
		written += n
		p = p[n:]
		if len(o.buf) == o.s.partSize {
			o.sendPart()
		}
	}
	return written, nil
}

// firstBufferSize is a new object's first buffer; Write doubles it as the
// object grows, up to a part.
const firstBufferSize = 256 << 10

func (o *s3Object) newBuffer() []byte {
	select {
	case b := <-o.free:
		return b[:0]
	default:
		if o.nextPart > 0 {
			return make([]byte, 0, o.s.partSize) // a large object: whole parts
		}
		// An object's first buffer starts small: most batch objects are
		// far smaller than a part, and a part-sized buffer for each would
		// allocate partSize per batch (garbage the collector must keep up
		// with).
		return make([]byte, 0, min(o.s.partSize, firstBufferSize))
	}
}

// failed returns the first failure: the caller's context ending, or an
// S3 request that failed.
func (o *s3Object) failed() error {
	if err := o.ctx.Err(); err != nil {
		return fmt.Errorf("write %s: %w", o.key, err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

func (o *s3Object) fail(err error) {
	if o.ctx.Err() != nil {
		err = fmt.Errorf("write %s: %w", o.key, o.ctx.Err())
	} else {
		err = explainS3("write "+o.key, o.s.bucket, o.s.where, err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil {
		o.err = err
	}
}

// sendPart uploads the filled buffer as the next part, starting the
// multipart upload first if needed; it waits while Concurrency parts are
// in flight. A failure is kept for failed to report.
func (o *s3Object) sendPart() {
	body := o.buf
	o.buf = nil
	if o.uploadID == "" {
		in := &s3.CreateMultipartUploadInput{Bucket: aws.String(o.s.bucket), Key: aws.String(o.full), ContentType: aws.String(o.contentType)}
		in.ServerSideEncryption, in.SSEKMSKeyId = o.s.sseHeaders()
		out, err := o.s.client.CreateMultipartUpload(o.ctx, in)
		if err != nil {
			o.fail(err)
			return
		}
		o.uploadID = aws.ToString(out.UploadId)
	}
	select {
	case o.inFlight <- struct{}{}:
	case <-o.ctx.Done():
		return
	}
	o.nextPart++
	num := o.nextPart
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		out, err := o.s.client.UploadPart(o.ctx, &s3.UploadPartInput{Bucket: aws.String(o.s.bucket), Key: aws.String(o.full),
			UploadId: aws.String(o.uploadID), PartNumber: aws.Int32(num), Body: bytes.NewReader(body)})
		<-o.inFlight
		select {
		case o.free <- body:
		default:
		}
		if err != nil {
			o.fail(err)
			return
		}
		o.mu.Lock()
		o.parts = append(o.parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		o.mu.Unlock()
	}()
}

// Commit sends what is left and completes the upload.
func (o *s3Object) Commit() (record.ObjectInfo, error) {
	if o.done {
		return record.ObjectInfo{}, fmt.Errorf("write %s: the object is closed", o.key)
	}
	if err := o.commit(); err != nil {
		o.Abort()
		return record.ObjectInfo{}, err
	}
	o.done = true
	return record.ObjectInfo{Key: o.key, Bytes: o.n, SHA256: hex.EncodeToString(o.h.Sum(nil))}, nil
}

func (o *s3Object) commit() error {
	if err := o.failed(); err != nil {
		return err
	}
	if o.uploadID == "" {
		if _, err := o.s.client.PutObject(o.ctx, o.s.putInput(o.full, o.contentType, bytes.NewReader(o.buf))); err != nil {
			o.fail(err)
			return o.failed()
		}
		return nil
	}
	if len(o.buf) > 0 {
		o.sendPart()
	}
	o.wg.Wait()
	if err := o.failed(); err != nil {
		return err
	}
	slices.SortFunc(o.parts, func(a, b types.CompletedPart) int { return int(aws.ToInt32(a.PartNumber) - aws.ToInt32(b.PartNumber)) })
	_, err := o.s.client.CompleteMultipartUpload(o.ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(o.s.bucket), Key: aws.String(o.full),
		UploadId: aws.String(o.uploadID), MultipartUpload: &types.CompletedMultipartUpload{Parts: o.parts}})
	if err != nil {
		o.fail(err)
		return o.failed()
	}
	return nil
}

// Abort waits for parts in flight and aborts the multipart upload, on a
// context the caller's cancellation does not reach (bounded by
// abortGrace), so no parts are left to pay for.
func (o *s3Object) Abort() {
	if o.done {
		return
	}
	o.done = true
	o.wg.Wait()
	o.buf = nil
	if o.uploadID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(o.ctx), abortGrace)
	defer cancel()
	if _, err := o.s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(o.s.bucket), Key: aws.String(o.full),
		UploadId: aws.String(o.uploadID)}); err != nil {
		slog.Default().Warn("abort multipart upload", "key", o.key, "err", err)
	}
}

// PutIfAbsent writes body only if key holds nothing; when it exists it
// returns record.ErrExists with the stored bytes. It reads first, then
// writes with If-None-Match: * — S3 refuses the write (412) when another
// writer got there in between. On a server that ignores the header the
// read still catches every writer that finished before it.
func (s *S3Sink) PutIfAbsent(ctx context.Context, key string, body []byte, contentType string) ([]byte, error) {
	full, err := s.fullKey(key)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		stored, err := s.Get(ctx, key)
		if err == nil {
			return stored, fmt.Errorf("put %s: %w", key, record.ErrExists)
		}
		if !errors.Is(err, record.ErrNotFound) {
			return nil, err
		}
		in := s.putInput(full, contentType, bytes.NewReader(body))
		in.IfNoneMatch = aws.String("*")
		_, err = s.client.PutObject(ctx, in)
		if err == nil {
			return nil, nil
		}
		if !conditionFailed(err) || attempt >= 3 {
			return nil, explainS3("put "+key, s.bucket, s.where, err)
		}
		// 412: someone wrote it; 409: a concurrent conditional write is in
		// progress. Read again to return what is stored.
		slog.DebugContext(ctx, "conditional put lost a race", "key", key, "attempt", attempt)
	}
}

// conditionFailed reports a failed If-None-Match (412 PreconditionFailed)
// or a concurrent conditional write (409 ConditionalRequestConflict).
func conditionFailed(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict") {
		return true
	}
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && (re.HTTPStatusCode() == 412 || re.HTTPStatusCode() == 409)
}

// Put writes a small object, replacing any previous one.
func (s *S3Sink) Put(ctx context.Context, key string, body []byte, contentType string) error {
	full, err := s.fullKey(key)
	if err != nil {
		return err
	}
	if _, err := s.client.PutObject(ctx, s.putInput(full, contentType, bytes.NewReader(body))); err != nil {
		return explainS3("put "+key, s.bucket, s.where, err)
	}
	return nil
}

// Get reads a small object; record.ErrNotFound when absent. The SDK
// verifies the object's checksum when S3 stored one.
func (s *S3Sink) Get(ctx context.Context, key string) ([]byte, error) {
	full, err := s.fullKey(key)
	if err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket:       aws.String(s.bucket),
		Key:          aws.String(full),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		if errors.As(err, new(*types.NoSuchKey)) {
			return nil, fmt.Errorf("get %s: %w", key, record.ErrNotFound)
		}
		return nil, explainS3("get "+key, s.bucket, s.where, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return b, nil
}

// List returns the keys under prefix (without the sink's prefix) in
// lexical order.
func (s *S3Sink) List(ctx context.Context, prefix string) ([]string, error) {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.prefix + prefix),
	})
	var keys []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, explainS3(fmt.Sprintf("list %q", prefix), s.bucket, s.where, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, strings.TrimPrefix(aws.ToString(o.Key), s.prefix))
		}
	}
	return keys, nil
}

// EnsureBucket checks that the bucket exists and is reachable; when it is
// missing and create is set, it creates it. It reports whether it did.
func (s *S3Sink) EnsureBucket(ctx context.Context, create bool) (bool, error) {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)})
	if err == nil {
		return false, nil
	}
	var nf *types.NotFound
	if !errors.As(err, &nf) && !errors.As(err, new(*types.NoSuchBucket)) {
		return false, explainS3("check bucket", s.bucket, s.where, err)
	}
	if !create {
		return false, explainS3("check bucket", s.bucket, s.where, &smithy.GenericAPIError{Code: "NoSuchBucket", Message: "bucket not found"})
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(s.bucket)}
	if r := s.where.region; r != "" && r != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(r)}
	}
	if _, err := s.client.CreateBucket(ctx, in); err != nil {
		if errors.As(err, new(*types.BucketAlreadyOwnedByYou)) {
			return false, nil
		}
		return false, explainS3("create bucket", s.bucket, s.where, err)
	}
	return true, nil
}

// Delete removes objects (pg2s3 prune), up to 1000 a request; keys that
// are already gone are no error. In a versioned bucket S3 keeps them as
// noncurrent versions until the bucket's lifecycle expires them.
func (s *S3Sink) Delete(ctx context.Context, keys []string) error {
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		ids := make([]types.ObjectIdentifier, 0, n)
		for _, k := range keys[:n] {
			full, err := s.fullKey(k)
			if err != nil {
				return err
			}
			ids = append(ids, types.ObjectIdentifier{Key: aws.String(full)})
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(s.bucket),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return explainS3(fmt.Sprintf("delete %d objects", n), s.bucket, s.where, err)
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("delete %s: %s: %s (%d of %d objects not deleted; check s3:DeleteObject on the prefix)",
				strings.TrimPrefix(aws.ToString(e.Key), s.prefix), aws.ToString(e.Code), aws.ToString(e.Message), len(out.Errors), n)
		}
		keys = keys[n:]
	}
	return nil
}
