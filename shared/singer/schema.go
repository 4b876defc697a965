package singer

import (
	"encoding/json"
	"maps"

	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/replicate"
)

// schemaMsg is a SCHEMA message.
type schemaMsg struct {
	stream    string
	schema    map[string]any
	keys      []string
	bookmarks []string
}

// properties returns the schema's properties object, creating it when
// the schema has none.
func (s *schemaMsg) properties() map[string]any {
	if p, ok := s.schema["properties"].(map[string]any); ok {
		return p
	}
	p := map[string]any{}
	s.schema["properties"] = p
	return p
}

// same says whether s and o would be the same message.
func (s *schemaMsg) same(o *schemaMsg) bool {
	if o == nil {
		return false
	}
	a, errA := json.Marshal([]any{s.stream, s.schema, s.keys, s.bookmarks})
	b, errB := json.Marshal([]any{o.stream, o.schema, o.keys, o.bookmarks})
	return errA == nil && errB == nil && string(a) == string(b)
}

// copySchema is the SCHEMA of a copy batch: the manifest's schema and
// keys; bookmark_properties [replication_key] for INCREMENTAL, else [].
func copySchema(name string, m *replicate.Manifest) *schemaMsg {
	s := &schemaMsg{stream: name, schema: cloneSchema(m.JSONSchema), keys: m.KeyProperties, bookmarks: []string{}}
	if m.Method == layout.Incremental && m.ReplicationKey != "" {
		s.bookmarks = []string{m.ReplicationKey}
	}
	return s
}

// logSchema is the SCHEMA tap-postgres sends for log changes: the copy's
// schema with _sdc_deleted_at (and _sdc_lsn with debug_lsn), and
// bookmark_properties ["lsn"].
func (r *replayer) logSchema(name string, m *replicate.Manifest) *schemaMsg {
	s := &schemaMsg{stream: name, schema: cloneSchema(m.JSONSchema), keys: m.KeyProperties, bookmarks: []string{"lsn"}}
	props := s.properties()
	props["_sdc_deleted_at"] = map[string]any{"type": []any{"null", "string"}, "format": "date-time"}
	if r.opts.DebugLSN {
		props["_sdc_lsn"] = map[string]any{"type": []any{"null", "string"}}
	}
	return s
}

// cloneSchema copies the top level and the properties object, the parts
// a replay changes.
func cloneSchema(in map[string]any) map[string]any {
	out := maps.Clone(in)
	if out == nil {
		out = map[string]any{"type": "object"}
	}
	if p, ok := out["properties"].(map[string]any); ok {
		out["properties"] = maps.Clone(p)
	}
	return out
}

// schema writes s unless it is the stream's current SCHEMA already.
func (r *replayer) schema(s *schemaMsg) error {
	if s.same(r.sent[s.stream]) {
		return nil
	}
	r.sent[s.stream] = s
	return r.w.schema(s)
}

// cover makes the stream's SCHEMA name every field of rec: a column added
// to a LOG_BASED table after its copy arrives only in log changes, and
// its type is not in any manifest, so it joins the schema untyped ({})
// and the SCHEMA is sent again before the record.
func (r *replayer) cover(stream string, rec map[string]any) error {
	cur := r.sent[stream]
	props := cur.properties()
	var added bool
	for k := range rec {
		if _, ok := props[k]; !ok {
			if !added {
				cur = &schemaMsg{stream: stream, schema: cloneSchema(cur.schema), keys: cur.keys, bookmarks: cur.bookmarks}
				props = cur.properties()
				added = true
			}
			props[k] = map[string]any{}
		}
	}
	if !added {
		return nil
	}
	return r.schema(cur)
}
