// Package layout says where every object of a pipeline lives in the sink,
// and what the names mean. Writers build keys here and readers parse them
// here, so the two cannot drift apart. Below the sink's prefix:
//
//	<stream>/v<version>/<seq>.jsonl.gz        a copy batch's rows (DataKey; .parquet in Parquet)
//	<stream>/v<version>/wal-<seq>.jsonl.gz    the stream's rows of slot batch <seq> (WALDataKey)
//	<stream>/v<version>/_<seq>.manifest.json  a copy batch's manifest (CopyManifestKey)
//	_wal/<slot>/<seq>.manifest.json           a slot batch's manifest (SlotManifestKey)
//	versions/<stream>/v<version>.json         a table version's activation marker (ActivationKey)
//	_runs/<start>-<kind>-<run id>.json        a run's report (RunReportKey)
//	_catalog/catalog.json                     the catalog the functions read (CatalogKey)
//
// <stream> is the tap_stream_id, <db>-<schema>-<table>, so it always holds
// a "-" and no stream folder is called versions; it may hold "/" (a table
// name may), so parsers read a stream's keys from the right. Sequence
// numbers are zero-padded to ten digits, so keys list in batch order.
// Names starting with "_" are hidden from Athena, Glue and Hive: a table
// over <stream>/ reads only the data objects.
//
// The package also names what the sink's metadata and the bookmark store
// call things: the manifest format, the replication methods, the data
// formats, and the bookmark ids that are not streams'.
package layout

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Format is the encoding of a pipeline's data objects (the config's
// sink.format). The zero Format means JSONL.
type Format string

const (
	JSONL   Format = "jsonl"   // gzip JSON Lines
	Parquet Format = "parquet" // Apache Parquet
)

// Valid says whether f is JSONL or Parquet.
func (f Format) Valid() bool { return f == JSONL || f == Parquet }

// Extension is the suffix of f's data object keys: .parquet, else
// .jsonl.gz.
func (f Format) Extension() string {
	if f == Parquet {
		return ".parquet"
	}
	return ".jsonl.gz"
}

// Method is a replication method: a stream's, as the Singer catalog names
// it, or the slot's own. Manifests, version markers, run reports and
// bookmarks carry it as this text.
type Method string

const (
	FullTable   Method = "FULL_TABLE"
	Incremental Method = "INCREMENTAL"
	LogBased    Method = "LOG_BASED"
	// SlotDrain is the method of a slot's bookmark (SlotBookmarkID), which
	// is no stream's: the drain writes the changes of every LOG_BASED
	// stream of the slot.
	SlotDrain Method = "SLOT"
	// Materialize is the method of an Iceberg materializer's bookmark
	// (MaterializeBookmarkID): a reader of a stream's batches, not a
	// stream, so a slot reset, which restarts every LOG_BASED bookmark,
	// leaves it alone (the materializer follows the new version itself).
	Materialize Method = "MATERIALIZE"
)

// Methods are the methods a stream may be replicated by, in the order
// Singer catalogs list them.
func Methods() []Method { return []Method{FullTable, Incremental, LogBased} }

// ManifestFormat is the format field of every manifest pg2s3 writes.
const ManifestFormat = "pg2s3.manifest.v1"

// StreamPrefix is a stream's folder, holding one folder per table
// version, v<version>/. A listing of it also holds the keys of streams
// whose names continue this one's with "/": the parsers tell them apart.
func StreamPrefix(stream string) string { return stream + "/" }

// DataKey is where the rows of a stream's copy batch seq of version live.
func DataKey(stream string, version, seq int64, f Format) string {
	return fmt.Sprintf("%s/v%d/%010d%s", stream, version, seq, f.Extension())
}

// WALDataPrefix starts the names of WAL data objects; a copy batch's data
// object starts with a digit. Queries tell log rows from copy rows by it.
const WALDataPrefix = "wal-"

// WALDataKey is where a stream's rows of slot batch seq live, in the
// folder of the table version they apply to.
func WALDataKey(stream string, version, seq int64, f Format) string {
	return fmt.Sprintf("%s/v%d/%s%010d%s", stream, version, WALDataPrefix, seq, f.Extension())
}

// manifestSuffix ends every manifest's key.
const manifestSuffix = ".manifest.json"

// CopyManifestKey is where the manifest of a stream's copy batch seq of
// version lives. Its name starts with "_" so a table over the stream's
// folder reads only the data objects.
func CopyManifestKey(stream string, version, seq int64) string {
	return fmt.Sprintf("%s/v%d/_%010d%s", stream, version, seq, manifestSuffix)
}

// Kind is what an object in a stream's version folder holds.
type Kind uint8

const (
	Data         Kind = iota + 1 // a copy batch's rows (DataKey)
	WALData                      // a stream's rows of a slot batch (WALDataKey)
	CopyManifest                 // a copy batch's manifest (CopyManifestKey)
)

// Object is what the key of an object in a stream's version folder says.
type Object struct {
	Stream  string
	Version int64
	Kind    Kind
	// Seq is the copy batch's sequence number, or the slot batch's for
	// WALData.
	Seq int64
	// Format is the data format of Data and WALData objects.
	Format Format
}

// ParseObject parses a key built by DataKey, WALDataKey or
// CopyManifestKey; any other key is not ok.
func ParseObject(key string) (Object, bool) {
	stream, version, name, ok := splitVersionKey(key)
	if !ok {
		return Object{}, false
	}
	o := Object{Stream: stream, Version: version}
	if digits, isManifest := cutAround(name, "_", manifestSuffix); isManifest {
		o.Kind = CopyManifest
		o.Seq, ok = parseSeq(digits)
		return o, ok
	}
	o.Kind = Data
	if rest, isWAL := strings.CutPrefix(name, WALDataPrefix); isWAL {
		o.Kind, name = WALData, rest
	}
	for _, f := range []Format{JSONL, Parquet} {
		if digits, found := strings.CutSuffix(name, f.Extension()); found {
			o.Format = f
			o.Seq, ok = parseSeq(digits)
			return o, ok
		}
	}
	return Object{}, false
}

// ParseVersionFolder returns the stream and table version whose folder
// holds key, <stream>/v<version>/<name>, whatever the object is.
func ParseVersionFolder(key string) (stream string, version int64, ok bool) {
	stream, version, _, ok = splitVersionKey(key)
	return stream, version, ok
}

// splitVersionKey splits <stream>/v<version>/<name>, reading from the
// right since a stream name may hold "/".
func splitVersionKey(key string) (stream string, version int64, name string, ok bool) {
	folder, name, ok := cutLast(key, "/")
	if !ok || name == "" {
		return "", 0, "", false
	}
	stream, dir, ok := cutLast(folder, "/")
	if !ok || stream == "" {
		return "", 0, "", false
	}
	version, ok = parseVersion(dir)
	return stream, version, name, ok
}

// SlotManifestPrefix is the folder of the slot batches' manifests, one
// folder per slot. The slot's own bookmark numbers its batches.
const SlotManifestPrefix = "_wal/"

// SlotManifestKey is where the manifest of slot batch seq lives.
func SlotManifestKey(slot string, seq int64) string {
	return fmt.Sprintf("%s%s/%010d%s", SlotManifestPrefix, slot, seq, manifestSuffix)
}

// ParseSlotManifestKey parses a key built by SlotManifestKey.
func ParseSlotManifestKey(key string) (slot string, seq int64, ok bool) {
	rest, ok := strings.CutPrefix(key, SlotManifestPrefix)
	slot, name, found := strings.Cut(rest, "/")
	if !ok || !found || slot == "" || strings.Contains(name, "/") {
		return "", 0, false
	}
	digits, ok := strings.CutSuffix(name, manifestSuffix)
	if !ok {
		return "", 0, false
	}
	seq, ok = parseSeq(digits)
	return slot, seq, ok
}

// VersionsPrefix is the folder of the activation markers. Unlike the other
// metadata it does not start with "_": query engines read the markers as
// a table, and Athena (Hive) hides such paths.
const VersionsPrefix = "versions/"

// ActivationKey is where the marker activating a stream's version lives.
func ActivationKey(stream string, version int64) string {
	return fmt.Sprintf("%s%s/v%d.json", VersionsPrefix, stream, version)
}

// ParseActivationKey parses a key built by ActivationKey.
func ParseActivationKey(key string) (stream string, version int64, ok bool) {
	rest, ok := strings.CutPrefix(key, VersionsPrefix)
	if !ok {
		return "", 0, false
	}
	rest, ok = strings.CutSuffix(rest, ".json")
	stream, dir, found := cutLast(rest, "/")
	if !ok || !found || stream == "" {
		return "", 0, false
	}
	version, ok = parseVersion(dir)
	return stream, version, ok
}

// RunsPrefix is the folder of the run reports.
const RunsPrefix = "_runs/"

// runTime is how a run report's key names the run's start.
const runTime = "20060102T150405Z"

// RunReportKey is where the report of a run lives. The key starts with the
// run's start time to the second (as given: runs stamp it in UTC), so keys
// list in start order and a reader can skip reports by their keys. kind
// is one word (sync, wal); the run id may hold anything but "/".
func RunReportKey(started time.Time, kind, runID string) string {
	return fmt.Sprintf("%s%s-%s-%s.json", RunsPrefix, started.Format(runTime), kind, runID)
}

// ParseRunReportKey parses a key built by RunReportKey: the run's start
// time to the second, in UTC, its kind and its id.
func ParseRunReportKey(key string) (started time.Time, kind, runID string, ok bool) {
	rest, ok := strings.CutPrefix(key, RunsPrefix)
	if !ok || len(rest) < len(runTime) || strings.Contains(rest, "/") {
		return time.Time{}, "", "", false
	}
	started, err := time.Parse(runTime, rest[:len(runTime)])
	name, ok := cutAround(rest[len(runTime):], "-", ".json")
	kind, runID, found := strings.Cut(name, "-")
	if err != nil || !ok || !found || kind == "" || runID == "" {
		return time.Time{}, "", "", false
	}
	return started, kind, runID, true
}

// CatalogKey is where the functions read the catalog by default (the
// stack's catalog.s3_key).
const CatalogKey = "_catalog/catalog.json"

// slotBookmark starts the bookmark id of a slot's drain.
const slotBookmark = "_slot:"

// SlotBookmarkID is the bookmark id of a replication slot's drain: its
// CommittedLSN is the last LSN committed to the sink, its Seq the next
// slot batch's number.
func SlotBookmarkID(slot string) string { return slotBookmark + slot }

// ParseSlotBookmarkID returns the slot whose drain's bookmark id is id.
func ParseSlotBookmarkID(id string) (slot string, ok bool) {
	slot, ok = strings.CutPrefix(id, slotBookmark)
	return slot, ok && slot != ""
}

const materializeBookmark = "_materialize:"

// MaterializeBookmarkID is the bookmark item of the Iceberg materializer of
// a stream: how far into the stream's batches its table is.
func MaterializeBookmarkID(stream string) string { return materializeBookmark + stream }

const rangeBookmark = "_range:"

// MaxRanges is the most ranges a parallel copy splits a stream into: each
// range numbers its batches from RangeFirstSeq, and ten-digit sequences
// leave room for this many.
const MaxRanges = 1000

// RangeBookmarkID is the bookmark id of range r of a stream's parallel
// copy: its own keyset position, resumed like a copy's.
func RangeBookmarkID(stream string, r int) string {
	return rangeBookmark + stream + ":" + strconv.Itoa(r)
}

// ParseRangeBookmarkID returns the stream and range of a range's bookmark id.
func ParseRangeBookmarkID(id string) (stream string, r int, ok bool) {
	rest, ok := strings.CutPrefix(id, rangeBookmark)
	i := strings.LastIndexByte(rest, ':')
	if !ok || i <= 0 {
		return "", 0, false
	}
	r, err := strconv.Atoi(rest[i+1:])
	return rest[:i], r, err == nil && r >= 0
}

// RangeFirstSeq is the sequence of the first batch of range r of a
// parallel copy: range r writes batches (r+1)×10^6 on, so the ranges'
// objects and manifests never share a key and sort by range. A parallel
// copy's completing manifest (no objects) takes RangeFirstSeq(ranges).
func RangeFirstSeq(r int) int64 { return int64(r+1) * 1_000_000 }

// IsStreamID says whether a bookmark id is a stream's, its tap_stream_id,
// rather than one of pg2s3's own items (a slot's drain, a range of a
// parallel copy): those start with
// "_".
func IsStreamID(id string) bool { return id != "" && !strings.HasPrefix(id, "_") }

// parseVersion parses a table version folder's name, v<version>.
func parseVersion(dir string) (int64, bool) {
	digits, ok := strings.CutPrefix(dir, "v")
	if !ok {
		return 0, false
	}
	return parseSeq(digits)
}

// parseSeq parses a number written in decimal digits only (no sign).
func parseSeq(s string) (int64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// cutLast splits s around its last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// cutAround returns s without prefix and suffix, when it has both.
func cutAround(s, prefix, suffix string) (string, bool) {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, suffix)
}
