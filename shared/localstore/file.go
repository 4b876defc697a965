package localstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/pg2s3/pg2s3/shared/bookmark"
)

// File keeps every stream's bookmark in one JSON file. Writes take an
// exclusive flock on a sibling lock file, re-read the file, check the
// expected revision and replace the file atomically, so two processes on
// one machine behave like two writers of the DynamoDB store.
type File struct {
	path string
}

type fileDoc struct {
	Bookmarks map[string]fileEntry `json:"bookmarks"`
	Leases    map[string]fileLease `json:"leases,omitempty"`
}

type fileEntry struct {
	Rev   int64          `json:"rev"`
	State bookmark.State `json:"state"`
}

type fileLease struct {
	Owner   string    `json:"owner"`
	Expires time.Time `json:"expires"`
	// PID and Host name the process holding the lease: on the same host,
	// a lease whose process is gone (killed) is free at once.
	PID  int    `json:"pid"`
	Host string `json:"host"`
}

// holderGone reports whether l's process is known to be dead.
func (l fileLease) holderGone() bool {
	host, _ := os.Hostname()
	if l.PID <= 0 || l.Host != host {
		return false
	}
	return errors.Is(syscall.Kill(l.PID, 0), syscall.ESRCH)
}

// NewFile returns a bookmark store in path (created on first write).
func NewFile(path string) (*File, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create bookmark directory %s: %w", dir, err)
		}
	}
	return &File{path: path}, nil
}

// Get returns a stream's bookmark.
func (f *File) Get(ctx context.Context, stream string) (bookmark.Versioned, error) {
	var out bookmark.Versioned
	err := f.locked(false, func(d *fileDoc) error {
		if e, ok := d.Bookmarks[stream]; ok {
			out = bookmark.Versioned{State: e.State, Rev: e.Rev}
		}
		return nil
	})
	return out, err
}

// Put writes st if the stored revision is still rev.
func (f *File) Put(ctx context.Context, stream string, st bookmark.State, rev int64) (int64, error) {
	var next int64
	err := f.locked(true, func(d *fileDoc) error {
		if cur := d.Bookmarks[stream].Rev; cur != rev {
			return fmt.Errorf("put bookmark %s (revision %d, expected %d): %w", stream, cur, rev, bookmark.ErrConflict)
		}
		next = rev + 1
		d.Bookmarks[stream] = fileEntry{Rev: next, State: st}
		return nil
	})
	return next, err
}

// All returns every bookmark.
func (f *File) All(ctx context.Context) (map[string]bookmark.Versioned, error) {
	out := map[string]bookmark.Versioned{}
	err := f.locked(false, func(d *fileDoc) error {
		for k, e := range d.Bookmarks {
			out[k] = bookmark.Versioned{State: e.State, Rev: e.Rev}
		}
		return nil
	})
	return out, err
}

// Delete removes a bookmark if its revision is still rev.
func (f *File) Delete(ctx context.Context, stream string, rev int64) error {
	return f.locked(true, func(d *fileDoc) error {
		if cur := d.Bookmarks[stream].Rev; cur != rev {
			return fmt.Errorf("delete bookmark %s: %w", stream, bookmark.ErrConflict)
		}
		delete(d.Bookmarks, stream)
		return nil
	})
}

// Acquire takes a lease if it is free, expired or owner's.
func (f *File) Acquire(ctx context.Context, name, owner string, ttl time.Duration) error {
	return f.locked(true, func(d *fileDoc) error {
		now := time.Now()
		if l, ok := d.Leases[name]; ok && l.Owner != owner && l.Expires.After(now) && !l.holderGone() {
			return fmt.Errorf("lease %s held by %s (pid %d) until %s: %w", name, l.Owner, l.PID, l.Expires.Format(time.RFC3339), bookmark.ErrLeaseHeld)
		}
		host, _ := os.Hostname()
		d.Leases[name] = fileLease{Owner: owner, Expires: now.Add(ttl), PID: os.Getpid(), Host: host}
		return nil
	})
}

// Release gives up a lease owner holds.
func (f *File) Release(ctx context.Context, name, owner string) error {
	return f.locked(true, func(d *fileDoc) error {
		if l, ok := d.Leases[name]; ok && l.Owner == owner {
			delete(d.Leases, name)
		}
		return nil
	})
}

// locked runs fn on the document under an flock; with write, the document
// is saved atomically when fn succeeds.
func (f *File) locked(write bool, fn func(*fileDoc) error) error {
	lk, err := os.OpenFile(f.path+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("lock bookmarks %s: %w", f.path, err)
	}
	defer lk.Close()
	how := syscall.LOCK_SH
	if write {
		how = syscall.LOCK_EX
	}
	if err := syscall.Flock(int(lk.Fd()), how); err != nil {
		return fmt.Errorf("lock bookmarks %s: %w", f.path, err)
	}
	d := &fileDoc{}
	b, err := os.ReadFile(f.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("read bookmarks %s: %w", f.path, err)
	default:
		if err := json.Unmarshal(b, d); err != nil {
			return fmt.Errorf("read bookmarks %s: not valid JSON (%v): restore it or remove it to start over", f.path, err)
		}
	}
	if d.Bookmarks == nil {
		d.Bookmarks = map[string]fileEntry{}
	}
	if d.Leases == nil {
		d.Leases = map[string]fileLease{}
	}
	if err := fn(d); err != nil {
		return err
	}
	if !write {
		return nil
	}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := writeTemp(filepath.Dir(f.path), append(out, '\n'))
	if err != nil {
		return fmt.Errorf("write bookmarks %s: %w", f.path, err)
	}
	if err := os.Rename(tmp, f.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write bookmarks %s: %w", f.path, err)
	}
	return nil
}
