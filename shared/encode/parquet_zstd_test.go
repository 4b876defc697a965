package encode

import (
	"bytes"
	"fmt"
	"math/rand"
	"runtime"
	"testing"

	pqzstd "github.com/parquet-go/parquet-go/compress/zstd"
)

// TestZstdPagesAsParquetGo: the writers' codec compresses pages that
// parquet-go's codec reads back, never larger than parquet-go's codec at
// the fastest level makes them, and entropy-codes literals in which the
// fastest level finds no matches: a page of UUID text is about half its
// size (parquet-go's codec leaves it as it is).
func TestZstdPagesAsParquetGo(t *testing.T) {
	theirs := &pqzstd.Codec{Level: pqzstd.SpeedFastest}
	r := rand.New(rand.NewSource(9))
	text := func(n int, alphabet string) []byte {
		page := make([]byte, n)
		for i := range page {
			page[i] = alphabet[r.Intn(len(alphabet))]
		}
		return page
	}
	uuids := func(n int) []byte {
		var b []byte
		for len(b) < n {
			u := text(32, "0123456789abcdef")
			b = fmt.Appendf(b, "%s-%s-%s-%s-%s", u[:8], u[8:12], u[12:16], u[16:20], u[20:])
		}
		return b[:n]
	}
	for _, n := range []int{0, 1, 100, 4096, 256 << 10, 1 << 20} {
		for kind, page := range map[string][]byte{"text": text(n, "abcdefgh \n0123"), "uuids": uuids(n)} {
			want, _ := theirs.Encode(nil, page)
			for range 3 { // again, on a kept encoder
				got, err := zstdPages.Encode(nil, page)
				if err != nil || len(got) > len(want) {
					t.Fatalf("%s, %d bytes: %d compressed, parquet-go's codec %d (%v)", kind, n, len(got), len(want), err)
				}
				back, err := theirs.Decode(nil, got)
				if err != nil || !bytes.Equal(back, page) {
					t.Fatalf("%s, %d bytes: read back %d bytes, %v", kind, n, len(back), err)
				}
				if kind == "uuids" && n >= 4096 && len(got) > n*6/10 {
					t.Errorf("uuids, %d bytes: %d compressed (parquet-go's codec: %d), want about half", n, len(got), len(want))
				}
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
