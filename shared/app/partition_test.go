package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/app"
)

const partitionedSchema = `
CREATE TABLE m (id bigint NOT NULL, region text NOT NULL, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE m_eu PARTITION OF m FOR VALUES IN ('eu');
CREATE TABLE m_us PARTITION OF m FOR VALUES IN ('us') PARTITION BY RANGE (id);
CREATE TABLE m_us_lo PARTITION OF m_us FOR VALUES FROM (0) TO (1000);
CREATE TABLE m_us_hi PARTITION OF m_us FOR VALUES FROM (1000) TO (MAXVALUE);
INSERT INTO m SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, g FROM generate_series(1, 2000) g;
`

// TestPartitionedTableLogBased: every change to a partitioned table lands
// in its stream, whichever partition (or sub-partition, or one attached
// after the copy) holds the row; with pgoutput through the publication's
// publish_via_partition_root, so the copy (of the parent) and the log
// (under the parent's name) agree.
func TestPartitionedTableLogBased(t *testing.T) {
	dsn, _ := newDB(t, partitionedSchema)
	p := newPipeline(t, dsn, map[string]any{"logical_plugin": "pgoutput"}, map[string]string{"m": "LOG_BASED"})
	drain(t, p, app.RunOptions{})
	if err := execSQL(dsn, `
INSERT INTO m VALUES (5000, 'eu', 1), (5001, 'us', 2), (3000, 'us', 3), (4000, 'eu', 4);
UPDATE m SET v = v + 100 WHERE id IN (2, 3, 1999);
DELETE FROM m WHERE id IN (4, 5, 1501);
CREATE TABLE m_ap (LIKE m INCLUDING ALL);
ALTER TABLE m ATTACH PARTITION m_ap FOR VALUES IN ('ap');
INSERT INTO m VALUES (6000, 'ap', 9);
UPDATE m SET v = -1 WHERE id = 6000;`); err != nil {
		t.Fatal(err)
	}
	drain(t, p, app.RunOptions{})
	// ids are unique across regions here, so rows merge by id.
	sameRows(t, merge(p.rows(streamID(p, "m"))), tableState(t, dsn, "SELECT id, region, v FROM m"))
}

// TestPartitionedTableWal2jsonRefused: wal2json names each change by its
// partition and decodes with no history of which partitions belonged to
// the table when, so pg2s3 cannot follow a partitioned table with it
// exactly: the stream fails with the fix, the slot holds nothing back for
// it, and the other streams go on.
func TestPartitionedTableWal2jsonRefused(t *testing.T) {
	ctx := context.Background()
	dsn, _ := newDB(t, partitionedSchema+acctSchema)
	p := newPipeline(t, dsn, map[string]any{"logical_plugin": "wal2json"}, map[string]string{"m": "LOG_BASED", "acct": "LOG_BASED"})
	run, err := p.app.Drain(ctx, p.cat, app.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range run.Streams {
		switch s.Stream {
		case streamID(p, "m"):
			if !strings.Contains(s.Error, "partitioned") || !strings.Contains(s.Error, "logical_plugin pgoutput") {
				t.Errorf("partitioned table under wal2json: %+v", s)
			}
		case streamID(p, "acct"):
			if s.Error != "" || !s.CopyDone {
				t.Errorf("the other stream: %+v", s)
			}
		}
	}
}
