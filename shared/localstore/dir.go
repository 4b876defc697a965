// Package localstore is the embedded default store: a directory sink and a
// bookmark file, with the same semantics as the S3 and DynamoDB stores.
package localstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pg2s3/pg2s3/shared/record"
)

// Dir is a sink writing objects as files under a root directory. An object
// is written to a temporary file and renamed into place, so a reader never
// sees half an object.
type Dir struct {
	root string
}

// NewDir returns a sink rooted at path, creating it.
func NewDir(path string) (*Dir, error) {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("create output directory %s: %w", path, err)
	}
	return &Dir{root: path}, nil
}

// Root returns the directory the sink writes under.
func (d *Dir) Root() string { return d.root }

func (d *Dir) path(key string) (string, error) {
	clean := filepath.Clean("/" + key)
	if clean == "/" || strings.Contains(key, "..") {
		return "", fmt.Errorf("object key %q is not a plain relative path", key)
	}
	return filepath.Join(d.root, filepath.FromSlash(clean)), nil
}

// Create starts an object: its bytes go to a temporary file beside the
// key, which Commit syncs and renames into place.
func (d *Dir) Create(ctx context.Context, key, contentType string) (record.ObjectWriter, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, fmt.Errorf("write %s: %w", key, err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", key, err)
	}
	return &dirObject{ctx: ctx, key: key, path: p, f: f, h: sha256.New()}, nil
}

// dirObject is an object being written to a temporary file.
type dirObject struct {
	ctx  context.Context
	key  string
	path string
	f    *os.File // nil once committed or aborted
	h    hash.Hash
	n    int64
}

func (o *dirObject) Write(p []byte) (int, error) {
	if o.f == nil {
		return 0, fmt.Errorf("write %s: the object is closed", o.key)
	}
	n, err := o.f.Write(p)
	o.h.Write(p[:n])
	o.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("write %s: %w", o.key, err)
	}
	return n, nil
}

// Commit syncs the file and renames it into place.
func (o *dirObject) Commit() (record.ObjectInfo, error) {
	if o.f == nil {
		return record.ObjectInfo{}, fmt.Errorf("write %s: the object is closed", o.key)
	}
	f := o.f
	o.f = nil
	defer os.Remove(f.Name()) // a no-op once renamed
	err := o.ctx.Err()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), o.path)
	}
	if err != nil {
		return record.ObjectInfo{}, fmt.Errorf("write %s: %w", o.key, err)
	}
	return record.ObjectInfo{Key: o.key, Bytes: o.n, SHA256: hex.EncodeToString(o.h.Sum(nil))}, nil
}

// Abort removes the temporary file.
func (o *dirObject) Abort() {
	if o.f == nil {
		return
	}
	o.f.Close()
	os.Remove(o.f.Name())
	o.f = nil
}

// PutIfAbsent writes body unless key exists; then it returns the stored
// bytes and record.ErrExists.
func (d *Dir) PutIfAbsent(ctx context.Context, key string, body []byte, contentType string) ([]byte, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	if old, err := os.ReadFile(p); err == nil {
		return old, fmt.Errorf("put %s: %w", key, record.ErrExists)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, fmt.Errorf("put %s: %w", key, err)
	}
	tmp, err := writeTemp(filepath.Dir(p), body)
	if err != nil {
		return nil, fmt.Errorf("put %s: %w", key, err)
	}
	defer os.Remove(tmp)
	// A hard link fails if the target exists: an atomic create-if-absent.
	if err := os.Link(tmp, p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			old, _ := os.ReadFile(p)
			return old, fmt.Errorf("put %s: %w", key, record.ErrExists)
		}
		return nil, fmt.Errorf("put %s: %w", key, err)
	}
	return nil, nil
}

// Put writes body to key, replacing what was there.
func (d *Dir) Put(ctx context.Context, key string, body []byte, contentType string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	tmp, err := writeTemp(filepath.Dir(p), body)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// Get reads an object.
func (d *Dir) Get(ctx context.Context, key string) ([]byte, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("get %s: %w", key, record.ErrNotFound)
	}
	return b, err
}

// List returns the keys under prefix, sorted.
func (d *Dir) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	start := d.root // walk only the directory the prefix names
	if i := strings.LastIndexByte(prefix, '/'); i > 0 {
		start = filepath.Join(d.root, filepath.FromSlash(prefix[:i]))
	}
	err := filepath.WalkDir(start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() || strings.HasPrefix(e.Name(), ".tmp-") {
			return nil
		}
		rel, _ := filepath.Rel(d.root, p)
		key := filepath.ToSlash(rel)
		if strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	sort.Strings(keys)
	return keys, nil
}

func writeTemp(dir string, body []byte) (string, error) {
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(body); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// Delete removes objects (pg2s3 prune) and the directories they leave
// empty; keys that are already gone are no error.
func (d *Dir) Delete(ctx context.Context, keys []string) error {
	for _, key := range keys {
		p, err := d.path(key)
		if err != nil {
			return err
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete %s: %w", key, err)
		}
		for dir := filepath.Dir(p); dir != d.root && strings.HasPrefix(dir, d.root); dir = filepath.Dir(dir) {
			if os.Remove(dir) != nil {
				break // not empty (or gone): stop climbing
			}
		}
	}
	return nil
}
