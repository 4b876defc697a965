#!/usr/bin/env bash
# Load a pg2s3 output directory into PostgreSQL and build the current state
# of each replicated table (docs/loader/postgres.sql, the view pg2s3_current).
#
#   docs/loader/load-dir.sh <output dir> [psql connection options...]
#
#   docs/loader/load-dir.sh ./pg2s3-out -d warehouse
#   aws s3 sync s3://bucket/prefix ./copy && docs/loader/load-dir.sh ./copy -h db.example.com -U loader -d warehouse
#
# It runs postgres.sql (idempotent), replaces the contents of pg2s3_rows,
# pg2s3_markers and pg2s3_streams with the directory's JSON Lines data
# objects, version markers and each stream's key columns (from its
# manifests), all in one transaction, and prints the live rows per stream.
# Then, for a table whose definition exists in that database:
#   SELECT r.* FROM pg2s3_current c
#   CROSS JOIN LATERAL jsonb_populate_record(NULL::public.orders, c.doc) r
#   WHERE c.stream = 'shop-public-orders';
# Parquet objects are skipped with a note (query them with Athena, or write
# JSON Lines). Needs bash, psql and gunzip; tested by
# shared/warehouse/loader_test.go.
set -euo pipefail

if [[ $# -lt 1 || ! -d $1 ]]; then
	echo "usage: $0 <pg2s3 output directory> [psql options...]" >&2
	exit 2
fi
dir=${1%/}
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# sql quotes a value as an SQL string literal; shell quotes it for sh -c.
sql() { printf "'%s'" "${1//\'/\'\'}"; }
shell() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
# copy loads the lines a shell command prints into pg2s3_load (each line
# whole: JSON text never holds the control characters used as quote and
# delimiter).
copy() { printf '\\copy pg2s3_load (doc) FROM PROGRAM %s WITH (FORMAT csv, QUOTE E%s, DELIMITER E%s)\n' "$(sql "$1")" "'\\x01'" "'\\x02'"; }

script=$(mktemp)
trap 'rm -f "$script"' EXIT
{
	echo '\set ON_ERROR_STOP on'
	echo 'SET client_min_messages = warning;'
	echo "\\i $(sql "$here/postgres.sql")"
	echo 'BEGIN;'
	echo 'CREATE TEMP TABLE pg2s3_load (doc jsonb) ON COMMIT DROP;'
	echo 'TRUNCATE pg2s3_rows, pg2s3_markers, pg2s3_streams;'
	skipped=0
	while IFS= read -r -d '' path; do
		key=${path#"$dir"/}
		stream=${key%%/*}
		case $key in
		_* | versions/*) continue ;; # _wal/, _runs/, _catalog/, the version markers
		*/_*) continue ;; # manifests
		*.parquet) skipped=$((skipped + 1)); continue ;;
		*.jsonl.gz) ;;
		*) continue ;;
		esac
		copy "gunzip -c $(shell "$path")"
		echo "INSERT INTO pg2s3_rows SELECT $(sql "$stream"), $(sql "$key"), doc FROM pg2s3_load; TRUNCATE pg2s3_load;"
	done < <(find "$dir" -type f -print0 | sort -z)
	for marker in "$dir"/versions/*/*.json; do
		[[ -e $marker ]] || continue
		copy "cat $(shell "$marker")"
		echo 'INSERT INTO pg2s3_markers SELECT doc FROM pg2s3_load; TRUNCATE pg2s3_load;'
	done
	for sdir in "$dir"/*/; do
		stream=$(basename "$sdir")
		[[ $stream == _* || $stream == versions ]] && continue
		manifest=$(find "$sdir" -name '_*.manifest.json' -print | sort | tail -n 1)
		[[ -n $manifest ]] || continue
		# a manifest is indented JSON: joined into one line (newlines in
		# its strings are escaped, so none is lost)
		copy "tr -d '\\n' < $(shell "$manifest")"
		echo "INSERT INTO pg2s3_streams SELECT $(sql "$stream"), ARRAY(SELECT jsonb_array_elements_text(doc->'key_properties')) FROM pg2s3_load; TRUNCATE pg2s3_load;"
	done
	echo 'COMMIT;'
	echo "SELECT stream, count(*) AS live_rows FROM pg2s3_current GROUP BY stream ORDER BY stream;"
	if [[ $skipped -gt 0 ]]; then
		echo "\\echo 'skipped $skipped Parquet objects: this loader reads JSON Lines only'"
	fi
} > "$script"
psql -X -q "$@" -f "$script"
