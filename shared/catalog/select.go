package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pg2s3/pg2s3/shared/layout"
)

// Selection is one selected stream as the catalog describes it. The sync
// engine turns it into a record.Stream with tables.Source.Resolve, which checks
// it against the live table.
type Selection struct {
	StreamID string
	Schema   string
	Table    string
	// Columns to replicate, in catalog (table) order: automatic columns
	// always, available columns unless "selected": false, never
	// unsupported ones; the replication key is always included.
	Columns []string
	// Known are every column the catalog lists, selected or not; a live
	// column outside it was added after discovery, and is replicated
	// when SelectNewColumns (the table-level select-new-columns).
	Known            []string
	SelectNewColumns bool
	Method           layout.Method
	ReplicationKey   string
	IsView           bool
	// KeyColumns are table-key-properties, or a view's view-key-properties.
	KeyColumns []string
	// JSONSchema is the catalog schema narrowed to Columns.
	JSONSchema map[string]any
	RowCount   int64
}

// Selections returns the streams whose table-level metadata says
// "selected": true, in catalog order. A stream's method is its
// replication-method, else defaultMethod (config default_replication_method).
// Streams with problems are left out and every problem is reported in the
// joined error, one per stream, naming it; the valid selections are still
// returned.
//
// Unlike tap-postgres, a column without a "selected" key follows its
// selected-by-default (true for available columns), so a catalog with only
// table-level selections replicates every supported column.
func (c *Catalog) Selections(defaultMethod layout.Method) ([]Selection, error) {
	var out []Selection
	var errs []error
	for _, s := range c.Streams {
		if !s.Selected() {
			continue
		}
		sel, err := s.selection(defaultMethod)
		if err != nil {
			errs = append(errs, fmt.Errorf("stream %s: %w", s.TapStreamID, err))
			continue
		}
		out = append(out, sel)
	}
	return out, errors.Join(errs...)
}

// SelectedStreams returns the streams marked selected, without checking
// their methods (pg2s3 check uses it to test privileges).
func (c *Catalog) SelectedStreams() []*Stream {
	var out []*Stream
	for _, s := range c.Streams {
		if s.Selected() {
			out = append(out, s)
		}
	}
	return out
}

func (s *Stream) selection(defaultMethod layout.Method) (Selection, error) {
	tmd := s.TableMetadata()
	sel := Selection{
		StreamID: s.TapStreamID,
		Schema:   s.SchemaName(),
		Table:    s.TableName,
		IsView:   s.IsView(),
		RowCount: mdInt(tmd, "row-count"),
	}
	sel.SelectNewColumns = s.SelectsNewColumns()
	if sel.Schema == "" {
		return sel, errors.New("table metadata has no schema-name: run pg2s3 discover again")
	}
	sel.Method = layout.Method(strings.ToUpper(mdString(tmd, "replication-method")))
	if sel.Method == "" {
		sel.Method = defaultMethod
	}
	switch sel.Method {
	case "":
		return sel, errors.New("no replication-method in its metadata and no default_replication_method in the config: set one of FULL_TABLE, INCREMENTAL, LOG_BASED")
	case layout.FullTable, layout.Incremental, layout.LogBased:
	default:
		return sel, fmt.Errorf("replication-method %q is not FULL_TABLE, INCREMENTAL or LOG_BASED", sel.Method)
	}
	if sel.Method == layout.LogBased && sel.IsView {
		return sel, errors.New("a view cannot be LOG_BASED (views have no changes in the WAL): use FULL_TABLE or INCREMENTAL")
	}
	sel.KeyColumns = mdStrings(tmd, "table-key-properties")
	if sel.IsView {
		sel.KeyColumns = mdStrings(tmd, "view-key-properties")
	}
	props, _ := s.Schema["properties"].(map[string]any)
	all := s.Columns()
	known := map[string]bool{}
	for _, col := range all {
		known[col] = true
	}
	sel.Known = slices.Clone(all)
	for col := range props { // a hand-written catalog may list a column only in its schema
		if !known[col] {
			sel.Known = append(sel.Known, col)
		}
	}
	sel.ReplicationKey = mdString(tmd, "replication-key")
	if sel.Method == layout.Incremental {
		if sel.ReplicationKey == "" {
			return sel, errors.New("INCREMENTAL needs a replication-key in its table metadata (a column that grows, such as updated_at)")
		}
		if !known[sel.ReplicationKey] {
			return sel, fmt.Errorf("replication-key %q is not a column of the stream", sel.ReplicationKey)
		}
		if mdString(s.ColumnMetadata(sel.ReplicationKey), "inclusion") == "unsupported" {
			return sel, fmt.Errorf("replication-key %q has an unsupported type", sel.ReplicationKey)
		}
	} else {
		sel.ReplicationKey = ""
	}
	for _, k := range sel.KeyColumns {
		if !known[k] {
			return sel, fmt.Errorf("key column %q is not a column of the stream", k)
		}
	}
	for _, col := range all {
		md := s.ColumnMetadata(col)
		incl := mdString(md, "inclusion")
		selected, set := mdBool(md, "selected")
		if !set {
			selected, set = mdBool(md, "selected-by-default")
			selected = selected || !set
		}
		switch {
		case incl == "unsupported":
		case incl == "automatic", col == sel.ReplicationKey, selected:
			sel.Columns = append(sel.Columns, col)
		}
	}
	if len(sel.Columns) == 0 {
		return sel, errors.New("no columns selected")
	}
	sel.JSONSchema = narrowSchema(s.Schema, props, sel.Columns)
	return sel, nil
}

// narrowSchema copies schema with only cols as properties.
func narrowSchema(schema, props map[string]any, cols []string) map[string]any {
	out := map[string]any{}
	for k, v := range schema {
		out[k] = v
	}
	np := map[string]any{}
	for _, c := range cols {
		if p, ok := props[c]; ok {
			np[c] = p
		}
	}
	out["properties"] = np
	return out
}

func mdInt(md map[string]any, key string) int64 {
	switch v := md[key].(type) {
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n
		}
		f, _ := v.Float64()
		return int64(f)
	case int64:
		return v
	case int:
		return int64(v)
	case float64:
		return int64(v)
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return 0
}
