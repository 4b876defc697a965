package app_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/awsstore/awstest"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// TestAWSStoresMatchLocal syncs the sample schema by every method into S3
// and DynamoDB (local compatible servers) and into the local stores, and
// compares the decoded rows.
func TestAWSStoresMatchLocal(t *testing.T) {
	ctx := context.Background()
	aws := awstest.Start(t, "out", "bookmarks")
	dsn, _ := newDB(t, testenv.SampleSchema+testenv.SampleData(300))
	methods := map[string]string{"customers": "FULL_TABLE", "products": "INCREMENTAL:updated_at", "orders": "LOG_BASED", "page_views": "FULL_TABLE"}
	local := newPipeline(t, dsn, map[string]any{"batch_rows": 100, "slot_name": "s_local"}, methods)
	remoteKeys := aws.ConfigKeys("p")
	remoteKeys["batch_rows"], remoteKeys["slot_name"] = 100, "s_aws"
	remote := newPipeline(t, dsn, remoteKeys, methods)
	for _, p := range []*pipeline{local, remote} {
		for i := 0; i < 3; i++ {
			run, err := p.app.Sync(ctx, p.cat, app.RunOptions{})
			if err != nil || run.Failed() {
				t.Fatalf("sync: %v %+v", err, run)
			}
			drain(t, p, app.RunOptions{})
		}
	}
	if err := execSQL(dsn, "UPDATE shop.orders SET total = total + 1 WHERE id < 20; DELETE FROM shop.\"Order Items\"; DELETE FROM shop.orders WHERE id = 20"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*pipeline{local, remote} {
		drain(t, p, app.RunOptions{})
	}
	for _, table := range []string{"customers", "products", "orders", "page_views"} {
		a, b := comparable(local.rows(streamID(local, table))), comparable(remote.rows(streamID(remote, table)))
		if len(a) == 0 || !reflect.DeepEqual(a, b) {
			t.Fatalf("%s: local wrote %d rows, S3 %d, or they differ", table, len(a), len(b))
		}
	}
	exp, err := remote.app.Stores.Bookmarks.All(ctx)
	if err != nil || len(exp) < 4 {
		t.Fatalf("DynamoDB bookmarks: %d, %v", len(exp), err)
	}
	// Status reads the same from either pair of stores.
	for _, p := range []*pipeline{local, remote} {
		st, err := p.app.Status(ctx, p.cat)
		if err != nil || len(st.Streams) != 4 || st.Slot == nil || !st.Slot.Exists || st.Slot.LastDrain.IsZero() || len(st.Attention) != 0 {
			t.Fatalf("status from %s: %v %+v", p.app.Stores.Where, err, st)
		}
		for _, s := range st.Streams {
			if s.LastResult != "ok" || s.Version == 0 || s.Bookmark == "" || s.LastRun.IsZero() {
				t.Errorf("status of %s from %s: %+v", s.Stream, p.app.Stores.Where, s)
			}
		}
	}
}

// comparable drops the fields that differ between two runs by design.
func comparable(rows []map[string]any) []map[string]any {
	for _, r := range rows {
		for _, k := range []string{"_sdc_extracted_at", "_sdc_batched_at", "_sdc_table_version", "_sdc_lsn", "_sdc_sequence"} {
			delete(r, k)
		}
	}
	return rows
}
