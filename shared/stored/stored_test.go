package stored

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/pg2s3/pg2s3/shared/localstore"
)

// TestListVersionsReadsOnlyItsStream lists the versions of a stream whose
// name another stream's name continues ("a" and "a/b": a table name may
// hold a slash), in numeric order, copy manifests by sequence.
func TestListVersionsReadsOnlyItsStream(t *testing.T) {
	ctx := context.Background()
	dir, err := localstore.NewDir(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{
		"db-s-a/v900/_0000000000.manifest.json", "db-s-a/v900/0000000000.jsonl.gz",
		"db-s-a/v1000/_0000000010.manifest.json", "db-s-a/v1000/_0000000002.manifest.json",
		"db-s-a/v1000/0000000002.parquet", "db-s-a/v1000/wal-0000000003.parquet",
		"db-s-a/v1100/wal-0000000004.jsonl.gz",
		"db-s-a/b/v5/_0000000000.manifest.json", "db-s-a/notes.txt",
	} {
		if err := dir.Put(ctx, k, []byte("{}"), "application/json"); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ListVersions(ctx, dir, "db-s-a")
	if err != nil {
		t.Fatal(err)
	}
	want := []Version{
		{Number: 900, Manifests: []string{"db-s-a/v900/_0000000000.manifest.json"}},
		{Number: 1000, Manifests: []string{"db-s-a/v1000/_0000000002.manifest.json", "db-s-a/v1000/_0000000010.manifest.json"}, HasLog: true},
		{Number: 1100, HasLog: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("versions:\n got %+v\nwant %+v", got, want)
	}
}
