package catalog

import (
	"fmt"
	"strings"
)

// Changes lists what a fresh discovery found that the current catalog did
// not have, and what it no longer has.
type Changes struct {
	NewStreams     []string
	NewColumns     []string // "<tap_stream_id>.<column>"
	DroppedStreams []string
}

func (c Changes) String() string {
	if len(c.NewStreams)+len(c.NewColumns)+len(c.DroppedStreams) == 0 {
		return "catalog unchanged"
	}
	var parts []string
	if len(c.NewStreams) > 0 {
		parts = append(parts, "new streams (not selected): "+strings.Join(c.NewStreams, ", "))
	}
	if len(c.NewColumns) > 0 {
		parts = append(parts, "new columns: "+strings.Join(c.NewColumns, ", "))
	}
	if len(c.DroppedStreams) > 0 {
		parts = append(parts, "streams gone from the database: "+strings.Join(c.DroppedStreams, ", "))
	}
	return strings.Join(parts, "; ")
}

// userTableKeys are the table-level metadata a user sets in a catalog.
var userTableKeys = []string{"selected", "replication-method", "replication-key", "view-key-properties", "select-new-columns"}

// Merge returns fresh with the user's choices from cur carried over: a
// stream's selection, method and keys, and each column's selection. New
// streams stay unselected; new columns follow their selected-by-default,
// or are left unselected when the stream's select-new-columns is false.
// cur may be nil.
func Merge(cur, fresh *Catalog) (*Catalog, Changes) {
	var ch Changes
	seen := map[string]bool{}
	for _, s := range fresh.Streams {
		seen[s.TapStreamID] = true
		var old *Stream
		if cur != nil {
			old = cur.Stream(s.TapStreamID)
		}
		if old == nil {
			ch.NewStreams = append(ch.NewStreams, s.TapStreamID)
			continue
		}
		omd := old.TableMetadata()
		for _, k := range userTableKeys {
			if v, ok := omd[k]; ok {
				s.SetTableMetadata(k, v)
			}
		}
		had := map[string]bool{}
		for _, c := range old.Columns() {
			had[c] = true
		}
		for _, c := range s.Columns() {
			if !had[c] {
				ch.NewColumns = append(ch.NewColumns, fmt.Sprintf("%s.%s", s.TapStreamID, c))
				if !s.SelectsNewColumns() && s.ColumnMetadata(c)["inclusion"] == "available" {
					s.SetColumnMetadata(c, "selected", false)
				}
				continue
			}
			if v, ok := old.ColumnMetadata(c)["selected"]; ok {
				s.SetColumnMetadata(c, "selected", v)
			}
		}
	}
	if cur != nil {
		for _, s := range cur.Streams {
			if !seen[s.TapStreamID] {
				ch.DroppedStreams = append(ch.DroppedStreams, s.TapStreamID)
			}
		}
	}
	return fresh, ch
}
