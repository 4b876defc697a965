package localstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

func TestDirSink(t *testing.T) {
	ctx := context.Background()
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	info, err := testenv.WriteObject(ctx, d, "s/v1/0.jsonl.gz", "", func(w io.Writer) error { _, err := w.Write([]byte("abc")); return err })
	if err != nil || info.Bytes != 3 || len(info.SHA256) != 64 {
		t.Fatalf("write: %+v %v", info, err)
	}
	boom := errors.New("boom")
	if _, err := testenv.WriteObject(ctx, d, "s/v1/1.jsonl.gz", "", func(w io.Writer) error { w.Write([]byte("x")); return boom }); !errors.Is(err, boom) {
		t.Fatalf("fill error not returned: %v", err)
	}
	if _, err := d.Get(ctx, "s/v1/1.jsonl.gz"); !errors.Is(err, record.ErrNotFound) {
		t.Fatalf("failed write left an object: %v", err)
	}
	if _, err := d.PutIfAbsent(ctx, "s/v1/0.manifest.json", []byte("m1"), ""); err != nil {
		t.Fatal(err)
	}
	old, err := d.PutIfAbsent(ctx, "s/v1/0.manifest.json", []byte("m2"), "")
	if !errors.Is(err, record.ErrExists) || !bytes.Equal(old, []byte("m1")) {
		t.Fatalf("second PutIfAbsent: %q %v", old, err)
	}
	keys, err := d.List(ctx, "s/")
	if err != nil || len(keys) != 2 {
		t.Fatalf("list: %v %v", keys, err)
	}
	if _, err := testenv.WriteObject(ctx, d, "../escape", "", func(io.Writer) error { return nil }); err == nil {
		t.Fatal("key with .. accepted")
	}
}

func TestFileBookmarksConditional(t *testing.T) {
	ctx := context.Background()
	f, _ := NewFile(filepath.Join(t.TempDir(), "b.json"))
	var wg sync.WaitGroup
	wins := make(chan int64, 10)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if rev, err := f.Put(ctx, "s", bookmark.State{Seq: int64(i)}, 0); err == nil {
				wins <- rev
			} else if !errors.Is(err, bookmark.ErrConflict) {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	close(wins)
	if len(wins) != 1 {
		t.Fatalf("%d writers won, want 1", len(wins))
	}
	v, err := f.Get(ctx, "s")
	if err != nil || v.Rev != 1 {
		t.Fatalf("get: %+v %v", v, err)
	}
	if _, err := f.Put(ctx, "s", v.State, 0); !errors.Is(err, bookmark.ErrConflict) {
		t.Fatalf("stale write accepted: %v", err)
	}
	if err := f.Delete(ctx, "s", 1); err != nil {
		t.Fatal(err)
	}
}

func TestFileLease(t *testing.T) {
	ctx := context.Background()
	f, _ := NewFile(filepath.Join(t.TempDir(), "b.json"))
	if err := f.Acquire(ctx, "slot", "a", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := f.Acquire(ctx, "slot", "b", time.Minute); !errors.Is(err, bookmark.ErrLeaseHeld) {
		t.Fatalf("second owner got the lease: %v", err)
	}
	if err := f.Acquire(ctx, "slot", "a", time.Millisecond); err != nil {
		t.Fatalf("owner renew: %v", err)
	}
	time.Sleep(5 * time.Millisecond)
	if err := f.Acquire(ctx, "slot", "b", time.Minute); err != nil {
		t.Fatalf("expired lease not taken over: %v", err)
	}
	f.Release(ctx, "slot", "a") // not a's any more: no effect
	if err := f.Acquire(ctx, "slot", "c", time.Minute); !errors.Is(err, bookmark.ErrLeaseHeld) {
		t.Fatalf("release by a non-owner freed the lease: %v", err)
	}
}

// A lease whose process died is free at once on the same host.
func TestFileLeaseOfDeadProcess(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "b.json")
	f, _ := NewFile(path)
	if err := f.Acquire(ctx, "slot", "a", time.Hour); err != nil {
		t.Fatal(err)
	}
	// Rewrite the holder as a process that has exited.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	err := f.locked(true, func(d *fileDoc) error {
		l := d.Leases["slot"]
		l.PID = cmd.Process.Pid
		d.Leases["slot"] = l
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Acquire(ctx, "slot", "b", time.Hour); err != nil {
		t.Fatalf("lease of a dead process not taken over: %v", err)
	}
	if err := f.Acquire(ctx, "slot", "c", time.Hour); !errors.Is(err, bookmark.ErrLeaseHeld) {
		t.Fatalf("lease of a live process taken over: %v", err)
	}
}

func TestDirDelete(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	d, err := NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"s/v1/0.jsonl.gz", "s/v1/_0.manifest.json", "s/v2/0.jsonl.gz"} {
		if err := d.Put(ctx, k, []byte("x"), ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Delete(ctx, []string{"s/v1/0.jsonl.gz", "s/v1/_0.manifest.json", "s/v1/gone"}); err != nil {
		t.Fatal(err)
	}
	keys, err := d.List(ctx, "")
	if err != nil || len(keys) != 1 || keys[0] != "s/v2/0.jsonl.gz" {
		t.Fatalf("after delete: %v %v", keys, err)
	}
	if _, err := os.Stat(filepath.Join(root, "s", "v1")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the emptied version folder stays: %v", err)
	}
	if err := d.Delete(ctx, []string{"../escape"}); err == nil {
		t.Fatal("a key outside the directory was accepted")
	}
}
