package awsstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

func writeBytes(b []byte) func(io.Writer) error {
	return func(w io.Writer) error { _, err := w.Write(b); return err }
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

func TestWriteGetListRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := newSink(t)
	objects := map[string][]byte{
		"stream-b/v1/000002.jsonl.gz": []byte("two"),
		"stream-a/v1/000001.jsonl.gz": []byte("one"),
		"stream-a/v1/000000.jsonl.gz": bytes.Repeat([]byte("zero "), 1000),
	}
	for key, body := range objects {
		info, err := testenv.WriteObject(ctx, s, key, "application/gzip", writeBytes(body))
		if err != nil {
			t.Fatalf("Write %s: %v", key, err)
		}
		if want := (record.ObjectInfo{Key: key, Bytes: int64(len(body)), SHA256: sum(body)}); info != want {
			t.Errorf("Write %s = %+v, want %+v", key, info, want)
		}
	}
	for key, body := range objects {
		got, err := s.Get(ctx, key)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("Get %s = %q, %v; want %q", key, got, err, body)
		}
	}
	all, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"stream-a/v1/000000.jsonl.gz", "stream-a/v1/000001.jsonl.gz", "stream-b/v1/000002.jsonl.gz"}
	if !slices.Equal(all, want) {
		t.Errorf("List = %q, want %q", all, want)
	}
	if a, _ := s.List(ctx, "stream-a/"); len(a) != 2 {
		t.Errorf("List stream-a/ = %q, want two keys", a)
	}
	// The prefix is the sink's: the object lives at <prefix>/<key>, with
	// its content type and no content encoding.
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String(s.prefix + want[0])})
	if err != nil {
		t.Fatalf("HeadObject under the prefix: %v", err)
	}
	if ct := aws.ToString(head.ContentType); ct != "application/gzip" {
		t.Errorf("ContentType = %q, want application/gzip", ct)
	}
	if ce := aws.ToString(head.ContentEncoding); ce != "" {
		t.Errorf("ContentEncoding = %q, want none", ce)
	}
	if _, err := s.Get(ctx, "stream-a/missing"); !errors.Is(err, record.ErrNotFound) {
		t.Errorf("Get missing: %v, want record.ErrNotFound", err)
	}
}

func TestListPagesPastOneThousand(t *testing.T) {
	ctx := context.Background()
	s := newSink(t)
	const n = 1005
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs <- s.Put(ctx, fmt.Sprintf("k/%05d", i), []byte("x"), "text/plain")
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	keys, err := s.List(ctx, "k/")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != n || !slices.IsSorted(keys) || keys[n-1] != fmt.Sprintf("k/%05d", n-1) {
		t.Errorf("List returned %d keys (sorted %v), want %d", len(keys), slices.IsSorted(keys), n)
	}
}

// TestWriteWithServerSideEncryption: every object, single-part, multipart
// or small, is written with the configured SSE headers (the server keeps
// and echoes them).
func TestWriteWithServerSideEncryption(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ sse, key string }{{"AES256", ""}, {"aws:kms", "alias/pg2s3"}} {
		cfg := sinkConfig(s3srv.Endpoint(), testBucket, unique("sse"))
		cfg.SSE, cfg.KMSKeyID = c.sse, c.key
		s := newSinkWith(t, cfg)
		if _, err := testenv.WriteObject(ctx, s, "small.jsonl.gz", "application/gzip", writeBytes([]byte("sse"))); err != nil {
			t.Fatalf("Write with %s: %v", c.sse, err)
		}
		if _, err := testenv.WriteObject(ctx, s, "multipart.jsonl.gz", "application/gzip", generate(6<<20)); err != nil {
			t.Fatalf("multipart Write with %s: %v", c.sse, err)
		}
		if err := s.Put(ctx, "m.json", []byte("{}"), "application/json"); err != nil {
			t.Fatalf("Put with %s: %v", c.sse, err)
		}
		for _, key := range []string{"small.jsonl.gz", "multipart.jsonl.gz", "m.json"} {
			h, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String(s.prefix + key)})
			if err != nil {
				t.Fatal(err)
			}
			if string(h.ServerSideEncryption) != c.sse || aws.ToString(h.SSEKMSKeyId) != c.key {
				t.Errorf("%s with %s: stored SSE %q key %q", key, c.sse, h.ServerSideEncryption, aws.ToString(h.SSEKMSKeyId))
			}
		}
	}
}

func TestWriteFillErrorLeavesNoObject(t *testing.T) {
	ctx := context.Background()
	s := newSink(t)
	boom := errors.New("source failed")
	for _, size := range []int{100, 7 << 20} { // inside the first part; past it (multipart)
		key := fmt.Sprintf("fail-%d.jsonl.gz", size)
		_, err := testenv.WriteObject(ctx, s, key, "application/gzip", func(w io.Writer) error {
			if _, err := w.Write(make([]byte, size)); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Errorf("Write %d bytes then fail: %v, want the fill error", size, err)
		}
		if _, err := s.Get(ctx, key); !errors.Is(err, record.ErrNotFound) {
			t.Errorf("after a failed Write of %d bytes, Get: %v, want record.ErrNotFound", size, err)
		}
	}
	up, err := s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(testBucket), Prefix: aws.String(s.prefix)})
	if err != nil {
		t.Fatal(err)
	}
	if len(up.Uploads) != 0 {
		t.Errorf("%d multipart uploads left behind, want 0 (aborted)", len(up.Uploads))
	}
}

// TestWriteCancelled: a run whose context ends mid-Write (its deadline)
// leaves no object and no multipart upload behind.
func TestWriteCancelled(t *testing.T) {
	s := newSink(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := testenv.WriteObject(ctx, s, "cancelled.jsonl.gz", "application/gzip", func(w io.Writer) error {
		chunk := make([]byte, 1<<20)
		for i := range 20 {
			if i == 8 {
				cancel()
			}
			if _, err := w.Write(chunk); err != nil {
				return fmt.Errorf("write rows: %w", err)
			}
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Write with a cancelled context: %v, want context.Canceled", err)
	}
	bg := context.Background()
	if _, err := s.Get(bg, "cancelled.jsonl.gz"); !errors.Is(err, record.ErrNotFound) {
		t.Errorf("Get after a cancelled Write: %v, want record.ErrNotFound", err)
	}
	up, err := s.client.ListMultipartUploads(bg, &s3.ListMultipartUploadsInput{Bucket: aws.String(testBucket), Prefix: aws.String(s.prefix)})
	if err != nil {
		t.Fatal(err)
	}
	if len(up.Uploads) != 0 {
		t.Errorf("%d multipart uploads left behind, want 0 (aborted)", len(up.Uploads))
	}
}

func TestWriteRedoneOverwritesSameKey(t *testing.T) {
	ctx := context.Background()
	s := newSink(t)
	key := "orders/v1/000007.jsonl.gz"
	if _, err := testenv.WriteObject(ctx, s, key, "application/gzip", writeBytes([]byte("first attempt"))); err != nil {
		t.Fatal(err)
	}
	info, err := testenv.WriteObject(ctx, s, key, "application/gzip", writeBytes([]byte("redone batch")))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get(ctx, key)
	keys, _ := s.List(ctx, "orders/")
	if string(got) != "redone batch" || info.SHA256 != sum(got) || !slices.Equal(keys, []string{key}) {
		t.Errorf("after redo: body %q, keys %q; want the redone body under one key", got, keys)
	}
}

// TestPutIfAbsent runs on a server honouring If-None-Match and on one that
// ignores it: both must refuse a second manifest.
func TestPutIfAbsent(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		t.Run(fmt.Sprintf("ignoreIfNoneMatch=%v", ignore), func(t *testing.T) {
			s3srv.IgnoreIfNoneMatch(ignore)
			defer s3srv.IgnoreIfNoneMatch(false)
			ctx := context.Background()
			s := newSink(t)
			key := "_manifests/orders/v1/000001.json"
			first := []byte(`{"batch":1}`)
			if stored, err := s.PutIfAbsent(ctx, key, first, "application/json"); err != nil || stored != nil {
				t.Fatalf("first PutIfAbsent = %q, %v; want nil, nil", stored, err)
			}
			for _, body := range [][]byte{first, []byte(`{"batch":"other"}`)} {
				stored, err := s.PutIfAbsent(ctx, key, body, "application/json")
				if !errors.Is(err, record.ErrExists) || !bytes.Equal(stored, first) {
					t.Errorf("second PutIfAbsent(%s) = %q, %v; want the stored bytes and record.ErrExists", body, stored, err)
				}
			}
			if got, _ := s.Get(ctx, key); !bytes.Equal(got, first) {
				t.Errorf("stored manifest = %q, want the first", got)
			}
		})
	}
}

// TestPutIfAbsentRace: writers racing for one manifest on a server with
// conditional writes: exactly one wins, the others see its bytes.
func TestPutIfAbsentRace(t *testing.T) {
	ctx := context.Background()
	s := newSink(t)
	const n = 8
	type result struct {
		stored []byte
		err    error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			stored, err := s.PutIfAbsent(ctx, "m.json", fmt.Appendf(nil, `{"writer":%d}`, i), "application/json")
			results[i] = result{stored, err}
		})
	}
	close(start)
	wg.Wait()
	final, err := s.Get(ctx, "m.json")
	if err != nil {
		t.Fatal(err)
	}
	wins := 0
	for i, r := range results {
		switch {
		case r.err == nil:
			wins++
			if want := fmt.Sprintf(`{"writer":%d}`, i); string(final) != want {
				t.Errorf("winner %d but stored %s", i, final)
			}
		case errors.Is(r.err, record.ErrExists):
			if !bytes.Equal(r.stored, final) {
				t.Errorf("loser %d saw %s, stored is %s", i, r.stored, final)
			}
		default:
			t.Errorf("writer %d: %v", i, r.err)
		}
	}
	if wins != 1 {
		t.Errorf("%d writers won, want exactly 1", wins)
	}
}

// TestS3StoppedMidWrite: the server goes away while a multipart Write is
// streaming; the Write fails, nothing is visible, and the same Write after
// a restart succeeds onto the same key.
func TestS3StoppedMidWrite(t *testing.T) {
	ctx := context.Background()
	s := newSink(t, fast())
	key := "orders/v1/000001.jsonl.gz"
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	var atStop testenv.S3Stats
	fill := func(stopAfter int) func(io.Writer) error {
		return func(w io.Writer) error {
			for i := range 12 {
				if i == stopAfter {
					// Past the first 5 MiB part: the multipart upload
					// has begun when the server goes away.
					atStop = s3srv.Stats()
					s3srv.Stop()
				}
				if _, err := w.Write(chunk); err != nil {
					return fmt.Errorf("write rows: %w", err)
				}
			}
			return nil
		}
	}
	before := s3srv.Stats()
	_, err := testenv.WriteObject(ctx, s, key, "application/gzip", fill(7))
	if atStop.Requests <= before.Requests {
		t.Errorf("no request reached the server before it stopped: not a mid-upload outage")
	}
	if err := s3srv.Start(); err != nil {
		t.Fatal(err)
	}
	assertExplained(t, err, "write "+key, "cannot reach S3", s3srv.Endpoint())
	if _, err := s.Get(ctx, key); !errors.Is(err, record.ErrNotFound) {
		t.Fatalf("after the failed Write, Get: %v, want record.ErrNotFound", err)
	}
	info, err := testenv.WriteObject(ctx, s, key, "application/gzip", fill(-1))
	if err != nil {
		t.Fatalf("Write after restart: %v", err)
	}
	got, err := s.Get(ctx, key)
	if err != nil || int64(len(got)) != info.Bytes || sum(got) != info.SHA256 || info.Bytes != 12<<20 {
		t.Errorf("after restart: %d bytes (%v), info %+v", len(got), err, info)
	}
}

func TestBadBucketAndEndpoint(t *testing.T) {
	ctx := context.Background()
	missing := newSinkWith(t, sinkConfig(s3srv.Endpoint(), "no-such-bucket", "p"))
	_, err := testenv.WriteObject(ctx, missing, "a.jsonl.gz", "application/gzip", writeBytes([]byte("x")))
	assertExplained(t, err, `s3 bucket "no-such-bucket" does not exist`, "setup-stores", "sink.bucket")
	_, err = missing.Get(ctx, "a.jsonl.gz")
	assertExplained(t, err, `s3 bucket "no-such-bucket" does not exist`)
	_, err = missing.List(ctx, "")
	assertExplained(t, err, `s3 bucket "no-such-bucket" does not exist`)
	_, err = missing.EnsureBucket(ctx, false)
	assertExplained(t, err, `s3 bucket "no-such-bucket" does not exist`)

	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	nowhere := newSinkWith(t, sinkConfig(fmt.Sprintf("http://127.0.0.1:%d", port), testBucket, ""), fast())
	err = nowhere.Put(ctx, "a", []byte("x"), "text/plain")
	assertExplained(t, err, "cannot reach S3", "sink.endpoint", testBucket)
}

func TestEnsureBucketCreatesOnce(t *testing.T) {
	ctx := context.Background()
	s := newSinkWith(t, sinkConfig(s3srv.Endpoint(), unique("created"), ""))
	for i, want := range []bool{true, false} {
		created, err := s.EnsureBucket(ctx, true)
		if err != nil || created != want {
			t.Fatalf("EnsureBucket #%d = %v, %v; want %v", i+1, created, err, want)
		}
	}
	if err := s.Put(ctx, "k", []byte("v"), "text/plain"); err != nil {
		t.Fatal(err)
	}
}

func TestDeleteObjects(t *testing.T) {
	ctx := context.Background()
	s := newSink(t)
	var keys []string
	for i := range 1203 { // more than one DeleteObjects request
		k := fmt.Sprintf("s-p-t/v1/%010d.jsonl.gz", i)
		if err := s.Put(ctx, k, []byte("x"), "application/gzip"); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if err := s.Put(ctx, "s-p-t/v2/0000000000.jsonl.gz", []byte("keep"), "application/gzip"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, append(keys, "s-p-t/v1/gone")); err != nil {
		t.Fatal(err)
	}
	left, err := s.List(ctx, "s-p-t/")
	if err != nil || !slices.Equal(left, []string{"s-p-t/v2/0000000000.jsonl.gz"}) {
		t.Fatalf("after delete: %v %v", left, err)
	}
}
