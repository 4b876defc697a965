-- pg2s3 loader for PostgreSQL: from the sink's JSON Lines objects to the
-- current state of each replicated table.
--
-- Run this file once in the target database (it creates three input tables
-- and two views), load the objects into the input tables, and read
-- pg2s3_current. Tested by shared/warehouse/loader_test.go against tables
-- replicated by FULL_TABLE, INCREMENTAL and LOG_BASED.
--
-- Inputs:
--   pg2s3_rows     one row per line of every data object (*.jsonl.gz,
--                  wal-*.jsonl.gz) below <tap_stream_id>/v<version>/; skip
--                  the _*.manifest.json files. object_key is the object's
--                  key: changes read from the log live in wal-* objects.
--   pg2s3_markers  one row per activation marker versions/<stream>/v<n>.json
--                  (each is one JSON line).
--   pg2s3_streams  each stream's key columns, in key order: the catalog's
--                  table-key-properties (view-key-properties for views), also
--                  in every manifest's key_properties; empty for keyless
--                  streams.
--
-- docs/loader/load-dir.sh does all of the loading below for a directory
-- (a local sink, or a copy of the bucket's prefix), in one transaction:
--   docs/loader/load-dir.sh ./pg2s3-out -d warehouse
--
-- Loading with psql by hand, one object at a time (the csv options with control
-- characters as quote and delimiter read each line whole: JSON text never
-- holds them unescaped):
--   \copy pg2s3_rows_in (doc) FROM PROGRAM 'aws s3 cp s3://bucket/prefix/shop-public-orders/v1714560000000/0000000000.jsonl.gz - | gunzip' WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02')
--   INSERT INTO pg2s3_rows SELECT 'shop-public-orders', 'shop-public-orders/v1714560000000/0000000000.jsonl.gz', doc FROM pg2s3_rows_in;
--   TRUNCATE pg2s3_rows_in;
-- (with CREATE TEMP TABLE pg2s3_rows_in (doc jsonb)), and the same for the
-- markers into pg2s3_markers.
--
-- The rule (README, Output contract):
--   1. per stream, keep the rows of the newest active table version: the
--      greatest table_version among its markers (a version is activated when
--      its copy completes, or by its first batch for INCREMENTAL);
--   2. per primary key, order the rows by (_sdc_lsn or 0, a change before a
--      copy row at the same _sdc_lsn, _sdc_sequence); the newest row decides:
--      a delete (_sdc_deleted_at set) drops the key;
--   3. a field the newest row does not carry (an update that left a TOASTed
--      value unchanged; a delete's non-key columns) keeps the value of the
--      newest row that carried it.
-- Rows read twice (an INCREMENTAL run re-reads its last value; a redone
-- batch) are harmless: the newest copy wins.
--
-- Typed rows: pg2s3_current.doc holds the columns (and the _sdc_ fields) as
-- the contract's JSON; jsonb_populate_record turns it into a table's row:
--   SELECT r.* FROM pg2s3_current c
--   CROSS JOIN LATERAL jsonb_populate_record(NULL::public.orders, c.doc) r
--   WHERE c.stream = 'shop-public-orders';
-- Integers, numerics (every digit kept), text, booleans, dates, timestamps,
-- timestamptz, json, jsonb, intervals and arrays of them convert as they
-- are; bytea arrives as base64 (decode(c.doc->>'col', 'base64')), bit(1) as a
-- boolean, hstore as a JSON object.
--
-- Not covered: a TRUNCATE of a LOG_BASED table is recorded in the slot
-- manifests (truncated_streams), not in the rows; reset the stream (a new
-- table version) to drop the truncated rows.

CREATE TABLE IF NOT EXISTS pg2s3_rows (
    stream     text  NOT NULL,
    object_key text  NOT NULL,
    doc        jsonb NOT NULL
);

CREATE TABLE IF NOT EXISTS pg2s3_markers (
    doc jsonb NOT NULL
);

CREATE TABLE IF NOT EXISTS pg2s3_streams (
    stream      text PRIMARY KEY,
    key_columns text[] NOT NULL
);

-- The table version to read per stream.
CREATE OR REPLACE VIEW pg2s3_active_versions AS
SELECT doc->>'stream' AS stream,
       max((doc->>'table_version')::bigint) AS table_version
FROM pg2s3_markers
GROUP BY doc->>'stream';

-- One row per live key of every stream: its key values (a JSON array in key
-- order) and the merged document.
CREATE OR REPLACE VIEW pg2s3_current AS
WITH ordered AS (
    SELECT r.stream,
           CASE WHEN cardinality(s.key_columns) = 0
                -- keyless: every row stands for itself
                THEN jsonb_build_array(r.object_key, r.doc->'_sdc_sequence')
                ELSE (SELECT jsonb_agg(r.doc->k ORDER BY i)
                      FROM unnest(s.key_columns) WITH ORDINALITY AS u(k, i))
           END AS key,
           r.doc,
           coalesce((r.doc->>'_sdc_lsn')::numeric, 0) AS lsn,
           r.object_key ~ '(^|/)wal-[^/]*$' AS from_log,
           (r.doc->>'_sdc_sequence')::numeric AS seq
    FROM pg2s3_rows r
    JOIN pg2s3_streams s ON s.stream = r.stream
    JOIN pg2s3_active_versions v ON v.stream = r.stream
     AND (r.doc->>'_sdc_table_version')::bigint = v.table_version
),
cells AS (
    -- per key and field, the value of the newest row that carries the field
    SELECT DISTINCT ON (o.stream, o.key, f.name)
           o.stream, o.key, f.name, f.value
    FROM ordered o
    CROSS JOIN LATERAL jsonb_each(o.doc) AS f(name, value)
    ORDER BY o.stream, o.key, f.name, o.lsn DESC, o.from_log DESC, o.seq DESC
)
SELECT stream, key, jsonb_object_agg(name, value) AS doc
FROM cells
GROUP BY stream, key
-- every row carries _sdc_deleted_at, so this is the newest row's
HAVING jsonb_object_agg(name, value)->>'_sdc_deleted_at' IS NULL;
