package encode

import (
	"bytes"
	"math/rand"
	"runtime"
	"testing"

	pqzstd "github.com/parquet-go/parquet-go/compress/zstd"
)

// TestZstdPagesAsParquetGo: the writers' codec compresses pages to the
// bytes parquet-go's codec at the fastest level gives, and reads them
// back.
func TestZstdPagesAsParquetGo(t *testing.T) {
	theirs := &pqzstd.Codec{Level: pqzstd.SpeedFastest}
	r := rand.New(rand.NewSource(9))
	for _, n := range []int{0, 1, 100, 4096, 256 << 10, 1 << 20} {
		page := make([]byte, n)
		for i := range page {
			page[i] = "abcdefgh \n0123"[r.Intn(14)]
		}
		want, _ := theirs.Encode(nil, page)
		for range 3 { // again, on a kept encoder
			got, err := zstdPages.Encode(nil, page)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%d bytes: %d compressed, want %d (%v)", n, len(got), len(want), err)
			}
			back, err := zstdPages.Decode(nil, got)
			if err != nil || !bytes.Equal(back, page) {
				t.Fatalf("%d bytes: read back %d bytes, %v", n, len(back), err)
			}
		}
	}
}

// TestZstdPagesKeepEncoders: compressing a page allocates no encoder
// (and its history) once one is kept, collections in between or not
// (parquet-go's codec makes a new one after two).
func TestZstdPagesKeepEncoders(t *testing.T) {
	page := bytes.Repeat([]byte("some page text 12345 "), 3000)
	dst := make([]byte, 0, len(page))
	zstdPages.Encode(dst, page)
	allocs := testing.AllocsPerRun(20, func() {
		runtime.GC()
		runtime.GC()
		zstdPages.Encode(dst, page)
	})
	if allocs > 2 {
		t.Errorf("%.0f allocations per page", allocs)
	}
}
