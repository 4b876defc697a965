package main

import (
	"testing"

	"github.com/pg2s3/pg2s3/functions/internal/fn"
)

func TestSettings(t *testing.T) {
	env := fn.Env{Pipeline: "shop", Bucket: "lake", Prefix: "shop"}
	for v, want := range map[string]bool{"": false, "false": false, "true": true} {
		s, err := readSettings(func(k string) string {
			if k == "PG2S3_ICEBERG_COPY_ON_WRITE" {
				return v
			}
			return ""
		}, env)
		if err != nil || s.copyOnWrite != want {
			t.Errorf("PG2S3_ICEBERG_COPY_ON_WRITE=%q: %v %v, want %v", v, s.copyOnWrite, err, want)
		}
	}
	if _, err := readSettings(func(k string) string {
		if k == "PG2S3_ICEBERG_COPY_ON_WRITE" {
			return "yes"
		}
		return ""
	}, env); err == nil {
		t.Error("PG2S3_ICEBERG_COPY_ON_WRITE=yes accepted")
	}
}
