package encode

import (
	"fmt"
	"math/big"
	"reflect"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/warehouse"
)

// The Parquet schema of a stream: one optional column per output field,
// in output order, typed from the warehouse type table.

func parquetSchemaName(s *record.Stream) string {
	if s.Table != "" {
		return s.Table
	}
	return "row"
}

// parquetNode returns the Parquet leaf of a warehouse type, and the byte
// width of a FIXED_LEN_BYTE_ARRAY decimal. Integer leaves (integers,
// timestamps, decimals of up to 18 digits) are DELTA_BINARY_PACKED: keys,
// sequences, batch timestamps and versions become a few bits per value
// before zstd sees them, which made Parquet copies about a quarter
// cheaper in CPU and smaller (PLAIN gave zstd 8 bytes per value to
// compress). Text stays parquet-go's DELTA_LENGTH_BYTE_ARRAY.
func parquetNode(t warehouse.Type) (parquet.Node, int, error) {
	delta := func(n parquet.Node) parquet.Node { return parquet.Encoded(n, &parquet.DeltaBinaryPacked) }
	switch t.Logical {
	case warehouse.Int64:
		return delta(parquet.Leaf(parquet.Int64Type)), 0, nil
	case warehouse.Double:
		return parquet.Leaf(parquet.DoubleType), 0, nil
	case warehouse.Decimal:
		p, s := t.Precision, t.Scale
		switch {
		case p < 1 || s < 0 || s > p || p > 38:
			return nil, 0, fmt.Errorf("decimal(%d,%d) cannot be a Parquet DECIMAL", p, s)
		case p <= 9:
			return delta(parquet.Decimal(s, p, parquet.Int32Type)), 0, nil
		case p <= 18:
			return delta(parquet.Decimal(s, p, parquet.Int64Type)), 0, nil
		}
		w := decimalWidth(p)
		return parquet.Decimal(s, p, parquet.FixedLenByteArrayType(w)), w, nil
	case warehouse.Bool:
		return parquet.Leaf(parquet.BooleanType), 0, nil
	case warehouse.Timestamp:
		return delta(parquet.TimestampAdjusted(parquet.Microsecond, true)), 0, nil
	}
	return parquet.String(), 0, nil // String and JSON: UTF8 text
}

// decimalWidth is the fewest bytes whose two's complement holds every
// unscaled value of precision p (16 for 38 digits).
func decimalWidth(p int) int {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(p)), nil) // 10^p - 1 must fit
	for w := 1; ; w++ {
		if new(big.Int).Lsh(big.NewInt(1), uint(8*w-1)).Cmp(limit) >= 0 {
			return w
		}
	}
}

// jsonForm returns f's JSONFormsKey entry ("" when the type implies it).
func jsonForm(f warehouse.Field) string {
	switch f.Type.Logical {
	case warehouse.JSON:
		return formJSON
	case warehouse.String:
		if f.Column != nil && f.Column.Kind == record.KindNumber && f.Column.Dims == 0 {
			return formNumber
		}
	case warehouse.Double:
		if f.Column != nil && f.Column.SQLType == "real" {
			return formReal
		}
	}
	return ""
}

// orderedGroup is a Parquet group whose columns keep the stream's order
// (parquet.Group sorts them by name).
type orderedGroup []parquet.Field

type namedField struct {
	parquet.Node
	name string
}

func (f namedField) Name() string { return f.name }
func (f namedField) Value(base reflect.Value) reflect.Value {
	return base.MapIndex(reflect.ValueOf(&f.name).Elem())
}

func (g orderedGroup) ID() int                     { return 0 }
func (g orderedGroup) String() string              { return g.group().String() }
func (g orderedGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (g orderedGroup) Optional() bool              { return false }
func (g orderedGroup) Repeated() bool              { return false }
func (g orderedGroup) Required() bool              { return true }
func (g orderedGroup) Leaf() bool                  { return false }
func (g orderedGroup) Fields() []parquet.Field     { return g }
func (g orderedGroup) Encoding() encoding.Encoding { return nil }
func (g orderedGroup) Compression() compress.Codec { return nil }
func (g orderedGroup) GoType() reflect.Type        { return g.group().GoType() }
func (g orderedGroup) group() parquet.Group {
	m := parquet.Group{}
	for _, f := range g {
		m[f.Name()] = f
	}
	return m
}
