package encode

import (
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/compress"
	pqzstd "github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/format"
)

// zstdPages is the Parquet writers' page codec: parquet-go's zstd codec
// at its fastest level, with the same encoder options, but encoders kept
// across pages and files. parquet-go's own keeps them in a sync.Pool of
// the codec (one codec per file here, and a pool the collector empties):
// each new encoder allocates a 16 MiB history, which made most of the
// writer's garbage (250 MB for 1.5M rows) and grew the heap.
var zstdPages compress.Codec = &zstdCodec{}

// zstdEncoders bounds the encoders kept: one per writer compressing at
// the same moment (a parallel copy's workers, a drain's objects); more
// are made when needed and dropped after.
var zstdEncoders = make(chan *zstd.Encoder, 4)

type zstdCodec struct {
	decode pqzstd.Codec // reading is parquet-go's
}

func (c *zstdCodec) String() string                            { return "ZSTD" }
func (c *zstdCodec) CompressionCodec() format.CompressionCodec { return format.Zstd }
func (c *zstdCodec) Decode(dst, src []byte) ([]byte, error)    { return c.decode.Decode(dst, src) }

func (c *zstdCodec) Encode(dst, src []byte) ([]byte, error) {
	var e *zstd.Encoder
	select {
	case e = <-zstdEncoders:
	default:
		var err error
		// parquet-go's options (compress/zstd.Codec.Encode), so pages are
		// compressed as they were.
		e, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithZeroFrames(true), zstd.WithEncoderCRC(false))
		if err != nil {
			return dst, err
		}
	}
	out := e.EncodeAll(src, dst[:0])
	select {
	case zstdEncoders <- e:
	default:
	}
	return out, nil
}
