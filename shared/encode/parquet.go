package encode

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/parquet-go/parquet-go"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/warehouse"
)

// DefaultRowGroupBytes bounds the JSON bytes a Parquet writer buffers
// before it writes a row group: a row group is held in memory (encoded and
// compressed) until it is written, so this bounds a batch's memory
// whatever the batch size.
const DefaultRowGroupBytes = 16 << 20

// JSONFormsKey is the Parquet key-value metadata entry that tells how the
// columns whose JSON form the Parquet type does not imply appear in the
// JSON contract: a JSON object of column name to "number" (a UTF8 column
// holding a JSON number's text, or NaN/Infinity/-Infinity), "json" (a
// UTF8 column holding JSON text) or "real" (a DOUBLE column of a
// PostgreSQL real, printed with float4's digits).
const JSONFormsKey = "pg2s3.json_forms"

// Forms of JSONFormsKey.
const (
	formNumber = "number"
	formJSON   = "json"
	formReal   = "real"
)

// unchangedField is the name of warehouse.ParquetMeta's one field.
var unchangedField = warehouse.ParquetMeta[0].Name

// ParquetLines converts encoded rows (JSON lines of the output contract)
// into typed rows of a Parquet file, with the columns of
// warehouse.ParquetFields: every column optional, zstd pages (the
// fastest level: objects about 0.8x the gzip JSON Lines of the same
// rows, where Snappy made them 1.3x, at the same speed), a row
// group written each time RowGroupBytes of JSON have been buffered.
type ParquetLines struct {
	// RowGroupBytes is the JSON bytes buffered before a row group is
	// written (DefaultRowGroupBytes unless changed before the first line).
	RowGroupBytes int64
	// Rows and Plain count the rows and JSON bytes written; RowGroups the
	// row groups (complete after Close).
	Rows, Plain int64
	RowGroups   int

	pw        *parquet.GenericWriter[any]
	cols      []pqColumn
	byName    map[string]int // raw (escaped) name -> column
	unchanged int            // index of _sdc_unchanged
	nulls     parquet.Row    // a row of nulls, copied into each new row
	present   []bool
	// row is the row being made; added moves it into cur, the chunk
	// being filled (n rows so far), column by column. Chunks are handed to
	// the Parquet writer whole, which is much cheaper than a row at a time;
	// their text is copied into arena, since the caller reuses its line.
	row   parquet.Row
	n     int
	arena []byte
	cur   *chunk
	group int64 // JSON bytes in the open row group

	// The Parquet writer's work (page encoding and compression) runs on
	// goroutines of its own, started with the first chunk, each writing
	// its share of the columns of every chunk: chunks go to them through
	// their work channels and come back through free, at most
	// pipelineChunks of them, so memory stays bounded whatever the rows.
	workers []*columnWorker
	free    chan *chunk
	ended   sync.WaitGroup
	chunks  int   // chunks made so far
	err     error // an error the goroutines returned with a chunk
	aborted atomic.Bool
	mu      sync.Mutex
	werr    error // the goroutines' first error
	// WriteRow's scratch: a value's JSON form when it needs one, and the
	// batch's metadata timestamps, converted once.
	scratch                    []byte
	extractedText, batchedText string
	extracted, batched         parquet.Value // with their levels
}

// Pending rows are written to the Parquet writer once there are this many,
// or this many bytes of their text.
const (
	pendingRows  = 256
	pendingBytes = 1 << 20
)

// pqColumn is one column of the Parquet file.
type pqColumn struct {
	name  string
	raw   string // the name as a line spells it (JSON escapes, no quotes)
	typ   warehouse.Type
	meta  bool // an _sdc_ field rather than a selected column
	kind  record.Kind
	dims  int
	width int // FIXED_LEN_BYTE_ARRAY bytes of a wide decimal
	// digits is a decimal's scratch: the unscaled digits of the value
	// being converted, reused row after row.
	digits []byte
}

// NewParquetLines writes stream s's rows to w as one Parquet file.
func NewParquetLines(w io.Writer, s *record.Stream) (*ParquetLines, error) {
	fields := warehouse.ParquetFields(s)
	p := &ParquetLines{RowGroupBytes: DefaultRowGroupBytes, byName: map[string]int{}, present: make([]bool, len(fields))}
	nodes := make(orderedGroup, len(fields))
	forms := map[string]string{}
	for i, f := range fields {
		raw := AppendString(nil, []byte(f.Name))
		c := pqColumn{name: f.Name, raw: string(raw[1 : len(raw)-1]), typ: f.Type, meta: f.Column == nil}
		if f.Column != nil {
			c.kind, c.dims = f.Column.Kind, f.Column.Dims
		}
		if _, dup := p.byName[c.raw]; dup {
			return nil, fmt.Errorf("stream %s: two output fields are named %q: rename the column or leave it out of the selection", s.ID, f.Name)
		}
		node, width, err := parquetNode(f.Type)
		if err != nil {
			return nil, fmt.Errorf("stream %s: column %s: %w", s.ID, f.Name, err)
		}
		c.width = width
		nodes[i] = namedField{Node: parquet.Optional(node), name: f.Name}
		if form := jsonForm(f); form != "" {
			forms[f.Name] = form
		}
		p.byName[c.raw] = i
		p.cols = append(p.cols, c)
	}
	p.unchanged = len(fields) - 1
	formsJSON, _ := json.Marshal(forms)
	schema := parquet.NewSchema(parquetSchemaName(s), nodes)
	p.pw = parquet.NewGenericWriter[any](w, schema,
		parquet.Compression(zstdPages),
		parquet.DataPageVersion(1),
		// Bounds of every page stay in the column index and of every
		// column chunk in the footer, where readers look for them; the
		// copy in each page's header (parquet-go computes the page's
		// bounds a second time for it) is left out.
		parquet.DataPageStatistics(false),
		parquet.CreatedBy("pg2s3", "", ""),
		parquet.KeyValueMetadata(JSONFormsKey, string(formsJSON)))
	p.nulls = make(parquet.Row, len(fields))
	p.row = make(parquet.Row, len(fields))
	for i := range p.nulls {
		p.nulls[i] = parquet.Value{}.Level(0, 0, i)
	}
	first := p.selected() // _sdc_extracted_at's column
	p.extracted, p.batched = parquet.Int64Value(0).Level(0, 1, first), parquet.Int64Value(0).Level(0, 1, first+1)
	p.use(p.newChunk())
	return p, nil
}

// chunk is pending rows on their way to the Parquet writer's goroutines,
// by column: cols[i][r] is column i of row r, as parquet-go's column
// writers take them (its WriteRows would turn rows into columns itself).
type chunk struct {
	cols  [][]parquet.Value
	n     int
	arena []byte
	flush bool // write the row group out after these rows
	// left counts the goroutines still writing the chunk; the last one
	// writes the row group out (after a flush chunk: the others wait for
	// flushed) and gives the chunk back.
	left    atomic.Int32
	flushed chan struct{}
	err     error // the goroutines' error, when the chunk comes back
}

// columnWorker is one of the writer's goroutines: it writes columns of
// every chunk.
type columnWorker struct {
	cols []int
	work chan *chunk
}

// columnWorkers is the number of the writer's goroutines: page
// compression is most of the writer's work, and column writers are
// independent until a row group is written out.
const columnWorkers = 2

// pipelineChunks bounds the chunks of a writer: one being filled, the
// others queued or being written.
const pipelineChunks = 4

func (p *ParquetLines) newChunk() *chunk {
	c := &chunk{cols: make([][]parquet.Value, len(p.cols))}
	for i := range c.cols {
		c.cols[i] = make([]parquet.Value, pendingRows)
	}
	p.chunks++
	return c
}

// use makes c the chunk being filled.
func (p *ParquetLines) use(c *chunk) {
	p.cur, p.n, p.arena = c, 0, c.arena[:0]
}

// WriteLine converts one encoded row and adds it to the file. Selected
// columns the line leaves out are written null and named in
// _sdc_unchanged.
func (p *ParquetLines) WriteLine(line []byte) error {
	if p.err != nil {
		return p.err
	}
	row := p.row
	copy(row, p.nulls)
	clear(p.present)
	sc, err := newMemberScanner(line)
	if err != nil {
		return fmt.Errorf("row %d: %w", p.Rows+1, err)
	}
	next := 0 // lines name the columns in order: try the next one first
	for {
		key, val, ok, err := sc.next()
		if err != nil {
			return fmt.Errorf("row %d: %w", p.Rows+1, err)
		}
		if !ok {
			break
		}
		i := next
		if i >= len(p.cols) || p.cols[i].raw != string(key) {
			var found bool
			if i, found = p.byName[string(key)]; !found || i == p.unchanged {
				return fmt.Errorf("row %d: field %s is not a column of the stream", p.Rows+1, key)
			}
		}
		next = i + 1
		p.present[i] = true
		v, err := p.value(&p.cols[i], val)
		if err != nil {
			return fmt.Errorf("row %d: column %s: %w", p.Rows+1, p.cols[i].name, err)
		}
		if !v.IsNull() {
			setValue(&row[i], v, i)
		}
	}
	if names := p.absent(); names != nil {
		setValue(&row[p.unchanged], parquet.ByteArrayValue(names), p.unchanged)
	}
	return p.added(int64(len(line)))
}

// added moves the row just made in p.row into the chunk and counts it
// (its JSON line is plain bytes long), and hands the chunk on when it
// holds enough.
func (p *ParquetLines) added(plain int64) error {
	for i, v := range p.row {
		p.cur.cols[i][p.n] = v
	}
	return p.counted(plain)
}

// counted counts the row just made in the chunk's next place, and hands
// the chunk on when it holds enough.
func (p *ParquetLines) counted(plain int64) error {
	p.n++
	p.Rows++
	p.Plain += plain
	p.group += plain
	if p.n == pendingRows || len(p.arena) >= pendingBytes || p.group >= p.RowGroupBytes {
		return p.writePending()
	}
	return nil
}

// absent returns the JSON array of the selected columns the current row
// left out, in the arena, or nil when it has them all.
func (p *ParquetLines) absent() []byte {
	start := len(p.arena)
	for i := range p.cols {
		if p.present[i] || p.cols[i].meta {
			continue
		}
		if len(p.arena) == start {
			p.arena = append(p.arena, '[')
		} else {
			p.arena = append(p.arena, ',')
		}
		p.arena = append(p.arena, '"')
		p.arena = append(p.arena, p.cols[i].raw...)
		p.arena = append(p.arena, '"')
	}
	if len(p.arena) == start {
		return nil
	}
	p.arena = append(p.arena, ']')
	return p.arena[start:]
}

// writePending hands the pending rows to the Parquet writer's goroutines,
// with the row group to write out once it holds RowGroupBytes of JSON,
// and takes a chunk to fill next (waiting for one when all are in use).
// It returns the first error the goroutines met.
func (p *ParquetLines) writePending() error {
	if p.err != nil {
		return p.err
	}
	flush := p.group >= p.RowGroupBytes
	if p.n == 0 && !flush {
		return nil
	}
	if p.workers == nil {
		p.start()
	}
	c := p.cur
	c.n, c.arena, c.flush, c.flushed = p.n, p.arena, flush, nil
	if flush {
		c.flushed = make(chan struct{})
	}
	c.left.Store(int32(len(p.workers)))
	for _, w := range p.workers {
		w.work <- c // never blocks: each channel holds every chunk
	}
	if flush {
		p.group = 0
		p.RowGroups++
	}
	var next *chunk
	select {
	case next = <-p.free:
	default:
		if p.chunks < pipelineChunks {
			next = p.newChunk()
		} else {
			next = <-p.free
		}
	}
	p.use(next)
	if next.err != nil {
		p.err = next.err
	}
	return p.err
}

// start shares the columns among the writer's goroutines, the text
// columns (most of the compression) first, each to the goroutine with
// the least so far, and starts them.
func (p *ParquetLines) start() {
	weight := func(i int) int {
		switch p.cols[i].typ.Logical {
		case warehouse.String, warehouse.JSON:
			return 4
		}
		return 1
	}
	order := make([]int, len(p.cols))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return weight(order[a]) > weight(order[b]) })
	p.workers = make([]*columnWorker, min(columnWorkers, len(p.cols)))
	load := make([]int, len(p.workers))
	for k := range p.workers {
		p.workers[k] = &columnWorker{work: make(chan *chunk, pipelineChunks)}
	}
	for _, i := range order {
		k := 0
		for j := range load {
			if load[j] < load[k] {
				k = j
			}
		}
		load[k] += weight(i)
		p.workers[k].cols = append(p.workers[k].cols, i)
	}
	p.free = make(chan *chunk, pipelineChunks)
	for _, w := range p.workers {
		sort.Ints(w.cols)
		p.ended.Add(1)
		go p.writeColumns(w)
	}
}

// writeColumns is one of the writer's goroutines: it writes its columns
// of each chunk until its work is closed. After an error (or Abort)
// nothing more is written, but every chunk still comes back.
func (p *ParquetLines) writeColumns(w *columnWorker) {
	defer p.ended.Done()
	for c := range w.work {
		flushed := c.flushed // read before left: the chunk is reused after
		if p.failed() == nil && !p.aborted.Load() {
			if err := p.writeChunk(c, w.cols); err != nil {
				p.fail(err)
			}
		}
		if c.left.Add(-1) > 0 {
			if flushed != nil {
				<-flushed // no column is written while the row group is
			}
			continue
		}
		if c.flush {
			if p.failed() == nil && !p.aborted.Load() {
				if err := p.pw.Flush(); err != nil {
					p.fail(fmt.Errorf("write Parquet row group: %w", err))
				}
			}
			close(flushed)
		}
		c.err = p.failed()
		p.free <- c // never blocks: it holds every chunk
	}
}

func (p *ParquetLines) fail(err error) {
	p.mu.Lock()
	if p.werr == nil {
		p.werr = err
	}
	p.mu.Unlock()
}

func (p *ParquetLines) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.werr
}

// writeChunk writes columns cols of c. As parquet-go's WriteRows does,
// at most 64 rows go to a column at a time, so a page can end after any
// 64 rows.
func (p *ParquetLines) writeChunk(c *chunk, cols []int) error {
	const rowsPerWrite = 64
	cws := p.pw.ColumnWriters()
	for start := 0; start < c.n; start += rowsPerWrite {
		end := min(start+rowsPerWrite, c.n)
		for _, i := range cols {
			if _, err := cws[i].WriteRowValues(c.cols[i][start:end]); err != nil {
				return fmt.Errorf("write Parquet rows: %w", err)
			}
		}
	}
	return nil
}

// stop ends the writer's goroutines, once every chunk handed to them is
// written, and returns their error.
func (p *ParquetLines) stop() error {
	if p.workers == nil {
		return nil
	}
	for _, w := range p.workers {
		close(w.work)
	}
	p.ended.Wait()
	p.workers = nil
	return p.failed()
}

// Abort ends the writer's goroutines without writing what they still
// hold, so the underlying writer can be aborted: nothing writes to it
// after Abort returns. The file is left unfinished; the writer takes no
// more rows.
func (p *ParquetLines) Abort() {
	p.aborted.Store(true)
	p.stop()
	if p.err == nil {
		p.err = errors.New("the Parquet writer was aborted")
	}
}

// PlainBytes returns the JSON bytes written so far.
func (p *ParquetLines) PlainBytes() int64 { return p.Plain }

// Close writes the last rows and row group and the file's footer (it does
// not close the underlying writer).
func (p *ParquetLines) Close() error {
	err := p.writePending()
	if werr := p.stop(); err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	if p.group > 0 {
		p.RowGroups++
	}
	if err := p.pw.Close(); err != nil {
		return fmt.Errorf("end Parquet file: %w", err)
	}
	return nil
}
