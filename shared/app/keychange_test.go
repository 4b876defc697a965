package app_test

import (
	"testing"

	"github.com/pg2s3/pg2s3/shared/app"
)

// TestKeyChangingUpdates: an UPDATE that changes a row's primary key
// moves the row. The log holds a delete of the old key before the new
// row, so the README's merge by key gives the table (before, the row
// stayed under its old key as well). Under REPLICA IDENTITY FULL the old
// row comes with every update, and only the updates that change the key
// write a delete. Both plugins, a key changed twice in one transaction,
// a key moved onto one freed in the same transaction, a composite key.
func TestKeyChangingUpdates(t *testing.T) {
	for _, plugin := range []string{"pgoutput", "wal2json"} {
		t.Run(plugin, func(t *testing.T) {
			dsn, _ := newDB(t, `
CREATE TABLE kd (id int PRIMARY KEY, v text);
CREATE TABLE kf (id int PRIMARY KEY, v text);
ALTER TABLE kf REPLICA IDENTITY FULL;
CREATE TABLE kc (id int, line int, v text, PRIMARY KEY (id, line));`)
			p := newPipeline(t, dsn, map[string]any{"logical_plugin": plugin},
				map[string]string{"kd": "LOG_BASED", "kf": "LOG_BASED", "kc": "LOG_BASED"})
			drain(t, p, app.RunOptions{})
			for _, tbl := range []string{"kd", "kf"} {
				if err := execSQL(dsn, `
INSERT INTO `+tbl+` SELECT g, 'v' || g FROM generate_series(1, 6) g;
UPDATE `+tbl+` SET id = 10 WHERE id = 1;
UPDATE `+tbl+` SET v = 'same key' WHERE id = 2;
UPDATE `+tbl+` SET id = id + 100 WHERE id IN (3, 4);
BEGIN; UPDATE `+tbl+` SET id = 20 WHERE id = 5; UPDATE `+tbl+` SET id = 21, v = 'twice' WHERE id = 20; COMMIT;
BEGIN; DELETE FROM `+tbl+` WHERE id = 2; UPDATE `+tbl+` SET id = 2 WHERE id = 6; COMMIT;`); err != nil {
					t.Fatal(err)
				}
			}
			if err := execSQL(dsn, `
INSERT INTO kc SELECT o, l, o || '.' || l FROM generate_series(1, 2) o, generate_series(1, 3) l;
UPDATE kc SET line = 9 WHERE id = 1 AND line = 2;
UPDATE kc SET id = 3 WHERE id = 2 AND line = 1;
UPDATE kc SET v = 'same key' WHERE id = 2 AND line = 2;`); err != nil {
				t.Fatal(err)
			}
			drain(t, p, app.RunOptions{})
			for _, tbl := range []string{"kd", "kf"} {
				rows := p.rows(streamID(p, tbl))
				sameRows(t, merge(rows), tableState(t, dsn, "SELECT id, v FROM "+tbl))
				deletes := 0
				for _, r := range rows {
					if r["_sdc_deleted_at"] != nil {
						deletes++
					}
				}
				// 1→10, 3→103, 4→104, 5→20, 20→21, the delete of 2, 6→2.
				if deletes != 7 {
					t.Errorf("%s: %d deletes in the log, want 7 (one per key change and the DELETE)", tbl, deletes)
				}
			}
			rows := p.rows(streamID(p, "kc"))
			for _, r := range rows {
				r["id"] = r["id"].(interface{ String() string }).String() + "." + r["line"].(interface{ String() string }).String()
			}
			want := tableState(t, dsn, "SELECT id || '.' || line AS id, line, v FROM kc")
			got := merge(rows)
			for _, r := range got {
				delete(r, "id")
			}
			for _, r := range want {
				delete(r, "id")
			}
			sameRows(t, got, want)
		})
	}
}
