package encode

import (
	"fmt"
	"strconv"

	"github.com/pg2s3/pg2s3/shared/record"
)

// Meta is the _sdc_* fields appended to every row.
type Meta struct {
	ExtractedAt  string // RFC 3339, pre-formatted once per batch
	BatchedAt    string
	TableVersion int64
	// LSN is the commit LSN of a change, or the slot position recorded
	// before a log-based stream's initial copy; 0 leaves _sdc_lsn out.
	LSN uint64
	// DeletedAt is set (RFC 3339) on deletes.
	DeletedAt string
	Sequence  int64
}

// RowEncoder appends rows of one stream as JSON objects.
type RowEncoder struct {
	cols  []record.Column
	names [][]byte // `"name":` pre-encoded
}

// NewRowEncoder prepares an encoder for cols.
func NewRowEncoder(cols []record.Column) *RowEncoder {
	e := &RowEncoder{cols: cols, names: make([][]byte, len(cols))}
	for i, c := range cols {
		n := AppendString(nil, []byte(c.Name))
		e.names[i] = append(n, ':')
	}
	return e
}

// Columns returns the columns the encoder writes.
func (e *RowEncoder) Columns() []record.Column { return e.cols }

// AppendRow appends one JSON line for vals (parallel to the encoder's
// columns; a nil slice is null) and meta.
func (e *RowEncoder) AppendRow(dst []byte, vals [][]byte, meta *Meta) ([]byte, error) {
	dst = append(dst, '{')
	var err error
	for i, v := range vals {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, e.names[i]...)
		if v == nil {
			dst = append(dst, "null"...)
			continue
		}
		c := &e.cols[i]
		if dst, err = AppendValue(dst, c.Kind, c.Dims, v); err != nil {
			return dst, fmt.Errorf("column %s: %w", c.Name, err)
		}
	}
	return appendMeta(dst, meta, len(vals) > 0), nil
}

// AppendValues appends one JSON line for a change's values; idx maps each
// value to its column in the encoder (-1: not selected, skipped). Unchanged
// TOAST values are left out of the object rather than written as null.
func (e *RowEncoder) AppendValues(dst []byte, vals []record.Value, idx []int, meta *Meta) ([]byte, error) {
	dst = append(dst, '{')
	n := 0
	var err error
	for j, v := range vals {
		i := idx[j]
		if i < 0 || v.Unchanged {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, e.names[i]...)
		if v.Null {
			dst = append(dst, "null"...)
			continue
		}
		c := &e.cols[i]
		if dst, err = AppendValue(dst, c.Kind, c.Dims, v.Text); err != nil {
			return dst, fmt.Errorf("column %s: %w", c.Name, err)
		}
	}
	return appendMeta(dst, meta, n > 0), nil
}

func appendMeta(dst []byte, m *Meta, comma bool) []byte {
	if comma {
		dst = append(dst, ',')
	}
	dst = append(dst, `"_sdc_extracted_at":"`...)
	dst = append(dst, m.ExtractedAt...)
	dst = append(dst, `","_sdc_batched_at":"`...)
	dst = append(dst, m.BatchedAt...)
	dst = append(dst, `","_sdc_deleted_at":`...)
	if m.DeletedAt == "" {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '"')
		dst = append(dst, m.DeletedAt...)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"_sdc_table_version":`...)
	dst = strconv.AppendInt(dst, m.TableVersion, 10)
	if m.LSN != 0 {
		dst = append(dst, `,"_sdc_lsn":`...)
		dst = strconv.AppendUint(dst, m.LSN, 10)
	}
	dst = append(dst, `,"_sdc_sequence":`...)
	dst = strconv.AppendInt(dst, m.Sequence, 10)
	return append(dst, '}', '\n')
}
