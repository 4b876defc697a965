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
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
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
	client   *s3.Client
	uploader *manager.Uploader
	bucket   string
	prefix   string // "" or ends with "/"
	sse      types.ServerSideEncryption
	kmsKeyID string
	where    where
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
		client: client,
		uploader: manager.NewUploader(client, func(u *manager.Uploader) {
			u.PartSize = int64(max(part, 5)) << 20
			u.Concurrency = conc
		}),
		bucket:   cfg.Bucket,
		kmsKeyID: cfg.KMSKeyID,
		where:    where{region: acfg.Region, endpoint: cfg.Endpoint},
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
	if s.sse != "" {
		in.ServerSideEncryption = s.sse
		if s.kmsKeyID != "" {
			in.SSEKMSKeyId = aws.String(s.kmsKeyID)
		}
	}
	return in
}

// Write streams one object: fill's bytes go through a pipe into the upload
// manager, which sends parts of PartSizeMB with at most Concurrency in
// flight, so memory stays flat whatever the object's size. When fill fails
// the upload is aborted and no object appears.
func (s *S3Sink) Write(ctx context.Context, key, contentType string, fill func(io.Writer) error) (record.ObjectInfo, error) {
	full, err := s.fullKey(key)
	if err != nil {
		return record.ObjectInfo{}, err
	}
	pr, pw := io.Pipe()
	// A panic in fill must not leave the upload reading forever.
	defer pw.CloseWithError(errors.New("write abandoned"))
	// The upload runs on a context the caller's cancellation does not
	// reach directly: a cancelled ctx closes the pipe instead, so the
	// manager stops reading and can still abort the multipart upload
	// (no orphaned parts); abortGrace bounds that clean-up.
	uctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		pw.CloseWithError(ctx.Err())
		time.AfterFunc(abortGrace, cancel)
	})
	defer stop()
	done := make(chan error, 1)
	go func() {
		_, err := s.uploader.Upload(uctx, s.putInput(full, contentType, pr))
		if err != nil {
			pr.CloseWithError(fmt.Errorf("upload failed: %w", err))
		} else {
			pr.Close()
		}
		done <- err
	}()
	w := &teeCounter{w: pw, h: sha256.New()}
	ferr := fill(w)
	if ferr != nil {
		pw.CloseWithError(ferr) // the uploader's next read fails: it aborts
	} else {
		pw.Close()
	}
	uerr := <-done
	switch {
	case ctx.Err() != nil && (ferr != nil || uerr != nil):
		return record.ObjectInfo{}, fmt.Errorf("write %s: %w", key, ctx.Err())
	case ferr != nil && (w.err == nil || uerr == nil):
		// fill failed on its own; the upload was aborted.
		return record.ObjectInfo{}, fmt.Errorf("write %s: %w", key, ferr)
	case uerr != nil:
		return record.ObjectInfo{}, explainS3("write "+key, s.bucket, s.where, uerr)
	}
	return record.ObjectInfo{Key: key, Bytes: w.n, SHA256: hex.EncodeToString(w.h.Sum(nil))}, nil
}

// teeCounter writes to w and hashes and counts what w accepted.
type teeCounter struct {
	w   io.Writer
	h   hash.Hash
	n   int64
	err error // the first write error (the upload failed)
}

func (t *teeCounter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	t.h.Write(p[:n])
	t.n += int64(n)
	if err != nil && t.err == nil {
		t.err = err
	}
	return n, err
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
