// Package catalog holds the Singer catalog pg2s3 discovers and reads back:
// the same JSON shape tap-postgres produces, so a Stitch or Singer user
// recognises it and can reuse their selections. It also holds the type
// mapping (types.go) and the reading of selections (select.go). It is pure:
// discovery itself lives in shared/postgres/tables.
//
// Table-level metadata (breadcrumb []):
//
//	table-key-properties   primary key columns ([] for views and keyless tables)
//	is-view                true for views and materialized views
//	row-count              pg_class.reltuples (partitions summed for a partitioned table)
//	schema-name, database-name
//	selected-by-default    false
//	valid-replication-methods  pg2s3: the methods that apply; views and
//	                       materialized views cannot be LOG_BASED
//	forced-replication-method  written only when a single method applies:
//	                       a view without any orderable column can only be
//	                       FULL_TABLE
//
// and, written by the user: selected, replication-method, replication-key,
// view-key-properties (key columns of a view), and pg2s3's
// select-new-columns (default true: a column added to the table later is
// replicated from its first change, without rediscovery; false leaves new
// columns out until the user selects them).
//
// Column-level metadata (breadcrumb ["properties", col]): sql-datatype,
// inclusion (automatic for key columns, available, unsupported),
// selected-by-default, and the user's selected.
package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/pg2s3/pg2s3/shared/layout"
)

// Catalog is a Singer catalog.
type Catalog struct {
	Streams []*Stream `json:"streams"`
}

// Stream is one catalog entry: a table, view, materialized view or
// partitioned table.
type Stream struct {
	TapStreamID string          `json:"tap_stream_id"`
	TableName   string          `json:"table_name"`
	Stream      string          `json:"stream"`
	Schema      map[string]any  `json:"schema"`
	Metadata    []MetadataEntry `json:"metadata"`
}

// MetadataEntry is one breadcrumb's metadata.
type MetadataEntry struct {
	Breadcrumb []string       `json:"breadcrumb"`
	Metadata   map[string]any `json:"metadata"`
}

// Relation kinds (pg_class.relkind) that become streams.
const (
	KindTable       = 'r'
	KindView        = 'v'
	KindMatView     = 'm'
	KindPartitioned = 'p'
)

// Table is what discovery read about one relation.
type Table struct {
	Database string
	Schema   string
	Name     string
	Kind     byte // KindTable, KindView, KindMatView, KindPartitioned
	RowCount int64
	// KeyColumns are the primary key columns in key order.
	KeyColumns []string
	// Columns in table order (attnum), PrimaryKey set on key columns.
	Columns []ColumnInfo
}

// StreamID is tap-postgres' tap_stream_id: <dbname>-<schema>-<table>.
func StreamID(dbname, schema, table string) string {
	return dbname + "-" + schema + "-" + table
}

// NewStream builds the catalog entry of t.
func NewStream(t Table) *Stream {
	isView := t.Kind == KindView || t.Kind == KindMatView
	keys := append([]string{}, t.KeyColumns...)
	if isView {
		keys = []string{}
	}
	tmd := map[string]any{
		"table-key-properties": keys,
		"is-view":              isView,
		"row-count":            max(t.RowCount, 0),
		"schema-name":          t.Schema,
		"database-name":        t.Database,
		"selected-by-default":  false,
	}
	s := &Stream{
		TapStreamID: StreamID(t.Database, t.Schema, t.Name),
		TableName:   t.Name,
		Stream:      t.Name,
		Schema:      SchemaFor(t.Columns),
		Metadata:    []MetadataEntry{{Breadcrumb: []string{}, Metadata: tmd}},
	}
	orderable := false
	for _, c := range t.Columns {
		m := MapColumn(c)
		orderable = orderable || m.Orderable
		cmd := map[string]any{"sql-datatype": SQLDataType(c)}
		switch {
		case !m.Supported:
			cmd["inclusion"], cmd["selected-by-default"] = "unsupported", false
		case c.PrimaryKey && !isView:
			cmd["inclusion"], cmd["selected-by-default"] = "automatic", true
		default:
			cmd["inclusion"], cmd["selected-by-default"] = "available", true
		}
		s.Metadata = append(s.Metadata, MetadataEntry{Breadcrumb: []string{"properties", c.Name}, Metadata: cmd})
	}
	switch {
	case !isView:
		tmd["valid-replication-methods"] = methodNames(layout.Methods()...)
	case orderable:
		tmd["valid-replication-methods"] = methodNames(layout.FullTable, layout.Incremental)
	default:
		tmd["valid-replication-methods"] = methodNames(layout.FullTable)
		tmd["forced-replication-method"] = string(layout.FullTable)
	}
	return s
}

// methodNames lists methods as metadata holds them, and as a catalog read
// from JSON has them: strings.
func methodNames(ms ...layout.Method) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m)
	}
	return out
}

// SchemaFor builds a stream's JSON Schema from its columns: type object,
// one property per column ({} for unsupported ones), and the recursive
// array definitions (tap-postgres' six, plus the numeric and json ones the
// columns use).
func SchemaFor(cols []ColumnInfo) map[string]any {
	props := map[string]any{}
	defs := BaseDefinitions()
	for _, c := range cols {
		m := MapColumn(c)
		props[c.Name] = m.Schema
		for k, v := range m.Definitions {
			defs[k] = v
		}
	}
	return map[string]any{"type": "object", "properties": props, "definitions": defs}
}

// Load reads a catalog file.
func Load(path string) (*Catalog, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	return c, nil
}

// Parse reads a catalog document. Numbers keep their exact text.
func Parse(data []byte) (*Catalog, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var c Catalog
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("parse catalog JSON: %w", err)
	}
	var errs []error
	seen := map[string]bool{}
	for i, s := range c.Streams {
		switch {
		case s == nil:
			errs = append(errs, fmt.Errorf("streams[%d]: null entry", i))
			continue
		case s.TapStreamID == "":
			errs = append(errs, fmt.Errorf("streams[%d]: tap_stream_id is missing", i))
		case seen[s.TapStreamID]:
			errs = append(errs, fmt.Errorf("streams[%d]: tap_stream_id %q appears twice", i, s.TapStreamID))
		}
		seen[s.TapStreamID] = true
		if s.TableName == "" {
			s.TableName = s.Stream
		}
		if s.TableMetadata() == nil {
			errs = append(errs, fmt.Errorf("stream %s: no table-level metadata (breadcrumb [])", s.TapStreamID))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &c, nil
}

// Marshal returns the catalog as indented JSON with stable ordering:
// streams as given (discovery orders them by schema and table), object
// keys sorted, metadata table-level first then columns in table order.
func (c *Catalog) Marshal() ([]byte, error) {
	if c.Streams == nil {
		c.Streams = []*Stream{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("marshal catalog: %w", err)
	}
	return buf.Bytes(), nil
}

// Stream returns the stream with tap_stream_id id, or nil.
func (c *Catalog) Stream(id string) *Stream {
	for _, s := range c.Streams {
		if s.TapStreamID == id {
			return s
		}
	}
	return nil
}

// TableMetadata returns the table-level metadata (breadcrumb []), or nil.
func (s *Stream) TableMetadata() map[string]any {
	for _, e := range s.Metadata {
		if len(e.Breadcrumb) == 0 {
			return e.Metadata
		}
	}
	return nil
}

// ColumnMetadata returns a column's metadata, or nil.
func (s *Stream) ColumnMetadata(col string) map[string]any {
	for _, e := range s.Metadata {
		if len(e.Breadcrumb) == 2 && e.Breadcrumb[0] == "properties" && e.Breadcrumb[1] == col {
			return e.Metadata
		}
	}
	return nil
}

// Columns returns the column names in metadata order (table order for a
// discovered catalog).
func (s *Stream) Columns() []string {
	var cols []string
	for _, e := range s.Metadata {
		if len(e.Breadcrumb) == 2 && e.Breadcrumb[0] == "properties" {
			cols = append(cols, e.Breadcrumb[1])
		}
	}
	return cols
}

// SetTableMetadata sets a table-level metadata key (e.g. selected,
// replication-method), creating the entry when absent.
func (s *Stream) SetTableMetadata(key string, v any) {
	if md := s.TableMetadata(); md != nil {
		md[key] = v
		return
	}
	s.Metadata = append([]MetadataEntry{{Breadcrumb: []string{}, Metadata: map[string]any{key: v}}}, s.Metadata...)
}

// SetColumnMetadata sets a column-level metadata key, creating the entry
// when absent.
func (s *Stream) SetColumnMetadata(col, key string, v any) {
	if md := s.ColumnMetadata(col); md != nil {
		md[key] = v
		return
	}
	s.Metadata = append(s.Metadata, MetadataEntry{Breadcrumb: []string{"properties", col}, Metadata: map[string]any{key: v}})
}

// SchemaName is the table-level schema-name.
func (s *Stream) SchemaName() string { return mdString(s.TableMetadata(), "schema-name") }

// IsView is the table-level is-view.
func (s *Stream) IsView() bool { b, _ := mdBool(s.TableMetadata(), "is-view"); return b }

// Selected is the table-level selected.
func (s *Stream) Selected() bool { b, _ := mdBool(s.TableMetadata(), "selected"); return b }

// SelectsNewColumns is the table-level select-new-columns: whether a
// column the catalog does not list yet, added to the table after
// discovery, is replicated (the default) or left out until selected.
func (s *Stream) SelectsNewColumns() bool {
	b, set := mdBool(s.TableMetadata(), "select-new-columns")
	return b || !set
}

// AddColumns records columns that fresh (a discovery of the same table)
// has and s does not list, in fresh's order: their JSON Schema, type
// definitions and metadata, selected unless the stream's
// select-new-columns is false. It returns the names added. A run calls it
// through the app when it replicated a column the stored catalog did not
// list, so discover shows what is being replicated.
func (s *Stream) AddColumns(fresh *Stream, names []string) []string {
	props, _ := s.Schema["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
		if s.Schema == nil {
			s.Schema = map[string]any{"type": "object"}
		}
		s.Schema["properties"] = props
	}
	fprops, _ := fresh.Schema["properties"].(map[string]any)
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var added []string
	for _, col := range fresh.Columns() {
		if !want[col] || s.ColumnMetadata(col) != nil {
			continue
		}
		if p, ok := fprops[col]; ok {
			props[col] = p
		}
		md := map[string]any{}
		for k, v := range fresh.ColumnMetadata(col) {
			md[k] = v
		}
		if !s.SelectsNewColumns() && md["inclusion"] == "available" {
			md["selected"] = false
		}
		s.Metadata = append(s.Metadata, MetadataEntry{Breadcrumb: []string{"properties", col}, Metadata: md})
		added = append(added, col)
	}
	if len(added) > 0 {
		defs, _ := s.Schema["definitions"].(map[string]any)
		if defs == nil {
			defs = map[string]any{}
			s.Schema["definitions"] = defs
		}
		fdefs, _ := fresh.Schema["definitions"].(map[string]any)
		for k, v := range fdefs {
			if _, ok := defs[k]; !ok {
				defs[k] = v
			}
		}
	}
	return added
}

func mdString(md map[string]any, key string) string {
	v, _ := md[key].(string)
	return v
}

// mdBool reads a boolean written as JSON true/false or "true"/"false".
func mdBool(md map[string]any, key string) (bool, bool) {
	switch v := md[key].(type) {
	case bool:
		return v, true
	case string:
		switch v {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

func mdStrings(md map[string]any, key string) []string {
	switch v := md[key].(type) {
	case []string:
		return v
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
