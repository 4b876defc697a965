package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/warehouse"
)

// errs collects problems, each prefixed with the entry it is about.
type errs struct{ list []error }

func (e *errs) add(entry, format string, args ...any) {
	e.list = append(e.list, fmt.Errorf("%s: %s", entry, fmt.Sprintf(format, args...)))
}

func (c *StackConfig) validate() error {
	e := &errs{}
	if c.Bucket.Encryption != "S3_MANAGED" && c.Bucket.Encryption != "KMS" {
		e.add("bucket.encryption", "%q is not S3_MANAGED or KMS", c.Bucket.Encryption)
	}
	if c.Bucket.NoncurrentVersionExpirationDays < 1 {
		e.add("bucket.noncurrent_version_expiration_days", "must be at least 1")
	}
	if c.Bucket.AccessLogExpirationDays < 1 {
		e.add("bucket.access_log_expiration_days", "must be at least 1")
	}
	if _, ok := retentionDays[c.LogRetentionDays]; !ok {
		e.add("log_retention_days", "%d is not a CloudWatch Logs retention (one of %s)", c.LogRetentionDays, retentionList())
	}
	if c.AlarmEmail != "" && !strings.Contains(c.AlarmEmail, "@") {
		e.add("alarm_email", "%q is not an e-mail address", c.AlarmEmail)
	}
	if len(c.Databases) == 0 {
		e.add("databases", "lists no database")
	}
	if c.GlueDatabase == "" || len(c.GlueDatabase) > 255 || warehouse.AthenaName(c.GlueDatabase) != c.GlueDatabase {
		e.add("glue_database", "%q must be 1-255 lower-case letters, digits or underscores (an Athena database name)", c.GlueDatabase)
	}
	seen := map[string]int{}
	slots := map[string]string{}
	prefixes := map[string]string{}
	for i, d := range c.Databases {
		entry := fmt.Sprintf("databases[%d]", i)
		if d == nil {
			e.add(entry, "is null")
			continue
		}
		entry = fmt.Sprintf("databases[%d] %q", i, d.Name)
		if j, dup := seen[d.Name]; dup {
			e.add(entry, "name repeats databases[%d]", j)
		}
		seen[d.Name] = i
		if prev, dup := prefixes[d.Prefix]; dup {
			e.add(entry, "prefix %q is also used by %q", d.Prefix, prev)
		}
		prefixes[d.Prefix] = d.Name
		if prev, dup := slots[d.SlotName]; dup {
			e.add(entry, "slot_name %q is also used by %q", d.SlotName, prev)
		}
		slots[d.SlotName] = d.Name
		d.validate(entry, e)
		d.validateParallel(entry, c.StackName, e)
	}
	c.validateGlueNames(e)
	return errors.Join(e.list...)
}

func (d *Database) validate(entry string, e *errs) {
	if !namePattern.MatchString(d.Name) {
		e.add(entry, "name must be 1-31 lower-case letters, digits or hyphens, starting with a letter")
	}
	switch {
	case d.SecretArn != "" && d.CreateSecret:
		e.add(entry, "set secret_arn or create_secret, not both")
	case d.SecretArn == "" && !d.CreateSecret:
		e.add(entry, "set secret_arn (an existing Secrets Manager secret) or create_secret: true")
	case d.SecretArn != "" && !secretPattern.MatchString(d.SecretArn):
		e.add(entry, "secret_arn %q is not a Secrets Manager secret ARN", d.SecretArn)
	}
	if d.SecretKMSKeyArn != "" && !kmsPattern.MatchString(d.SecretKMSKeyArn) {
		e.add(entry, "secret_kms_key_arn %q is not a KMS key ARN", d.SecretKMSKeyArn)
	}
	if !contains(sslModes, d.SSLMode) {
		e.add(entry, "sslmode %q is not one of %s", d.SSLMode, strings.Join(sslModes, ", "))
	}
	if !slotPattern.MatchString(d.SlotName) {
		e.add(entry, "slot_name %q may hold only lower-case letters, digits and underscores (at most 63)", d.SlotName)
	}
	if d.LogicalPlugin != "pgoutput" && d.LogicalPlugin != "wal2json" {
		e.add(entry, "logical_plugin %q is not pgoutput or wal2json", d.LogicalPlugin)
	}
	if d.Prefix == "" || strings.Contains(d.Prefix, "*") {
		e.add(entry, "prefix %q must be a non-empty S3 key prefix without '*'", d.Prefix)
	}
	if strings.Contains(d.Catalog.S3Key, "*") || strings.HasSuffix(d.Catalog.S3Key, "/") {
		e.add(entry, "catalog.s3_key %q must name an object", d.Catalog.S3Key)
	}
	for name, f := range d.Functions {
		fe := fmt.Sprintf("%s: functions.%s", entry, name)
		if _, ok := defaultFunctions[name]; !ok {
			e.add(fe, "unknown function (want one of %s, %s)", strings.Join(FunctionNames, ", "), MaterializeFunction)
			continue
		}
		if f.TimeoutSeconds < 1 || f.TimeoutSeconds > 900 {
			e.add(fe, "timeout_seconds %d is outside 1..900", f.TimeoutSeconds)
		}
		if f.MemoryMB < 128 || f.MemoryMB > 10240 {
			e.add(fe, "memory_mb %d is outside 128..10240", f.MemoryMB)
		}
	}
	if d.VPC != nil {
		d.VPC.validate(entry+": vpc", e)
	}
	if d.Alarms.SlotRetainedWALBytes < 0 {
		e.add(entry+": alarms.slot_retained_wal_bytes", "must be positive")
	}
	if d.Alarms.SlotLagSeconds < 0 {
		e.add(entry+": alarms.slot_lag_seconds", "must be positive")
	}
	if d.Alarms.NoDrainMinutes < 0 || d.Alarms.NoDrainMinutes > 24*60 {
		e.add(entry+": alarms.no_drain_minutes", "%d is outside 1 to 1440 (a day)", d.Alarms.NoDrainMinutes)
	}
	if d.Alarms.DurationRatio <= 0 || d.Alarms.DurationRatio > 1 {
		e.add(entry+": alarms.duration_ratio", "%g is outside (0, 1]", d.Alarms.DurationRatio)
	}
	if !d.Format.Valid() {
		e.add(entry, "format %q is not jsonl or parquet", d.Format)
	}
	d.validateCatalog(entry, e)
	d.validateGlueCatalog(entry, e)
	d.validateSchedules(entry, e)
}

func (v *VPCConfig) validate(entry string, e *errs) {
	if !vpcPattern.MatchString(v.VpcID) {
		e.add(entry, "vpc_id %q is not a VPC id", v.VpcID)
	}
	if len(v.SubnetIDs) == 0 {
		e.add(entry, "subnet_ids lists no subnet")
	}
	for _, s := range v.SubnetIDs {
		if !subnetPattern.MatchString(s) {
			e.add(entry, "subnet_ids: %q is not a subnet id", s)
		}
	}
	for _, s := range append(append([]string{}, v.SecurityGroupIDs...), v.RDSSecurityGroupID) {
		if s != "" && !sgPattern.MatchString(s) {
			e.add(entry, "%q is not a security group id", s)
		}
	}
	if v.Port < 1 || v.Port > 65535 {
		e.add(entry, "port %d is not a TCP port", v.Port)
	}
}

func (d *Database) validateCatalog(entry string, e *errs) {
	sel := d.Catalog.Streams
	if len(sel) == 0 {
		return
	}
	names := make([]string, 0, len(sel))
	for n := range sel {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := sel[n]
		se := fmt.Sprintf("%s: catalog.streams %q", entry, n)
		if s == nil {
			e.add(se, "is null")
			continue
		}
		s.ReplicationMethod = strings.ToUpper(s.ReplicationMethod)
		if !contains(methods, s.ReplicationMethod) {
			e.add(se, "replication_method %q is not one of %s", s.ReplicationMethod, strings.Join(methods, ", "))
		}
		if layout.Method(s.ReplicationMethod) == layout.Incremental && s.ReplicationKey == "" {
			e.add(se, "INCREMENTAL needs a replication_key")
		}
		if layout.Method(s.ReplicationMethod) == layout.LogBased && d.WAL == nil {
			e.add(se, "LOG_BASED needs a wal schedule to drain the slot")
		}
	}
	if b, _ := json.Marshal(sel); len(b) > maxInlineSelectionBytes {
		e.add(entry+": catalog.streams", "inline selection is %d bytes (more than %d); use catalog.s3_key instead", len(b), maxInlineSelectionBytes)
	}
}

func (d *Database) validateSchedules(entry string, e *errs) {
	owner := map[string]string{}
	for i, s := range d.Schedules {
		if s == nil {
			e.add(fmt.Sprintf("%s: schedules[%d]", entry, i), "is null")
			continue
		}
		se := fmt.Sprintf("%s: schedules[%d] %q", entry, i, s.Name)
		s.validate(se, e)
		if len(s.Streams) == 0 {
			e.add(se, "names no stream (list the tap_stream_ids this schedule syncs)")
		}
		for _, st := range s.Streams {
			switch {
			case strings.TrimSpace(st) == "" || strings.ContainsAny(st, " \t\n"):
				e.add(se, "stream %q is not a tap_stream_id", st)
			case owner[st] != "":
				e.add(se, "stream %q is also in schedule %q; a stream belongs to one group", st, owner[st])
			case len(d.Catalog.Streams) > 0 && d.Catalog.Streams[st] == nil:
				e.add(se, "stream %q is not in catalog.streams", st)
			}
			owner[st] = s.Name
		}
		for _, o := range d.Schedules[:i] {
			if o != nil && o.Name == s.Name {
				e.add(se, "name repeats another schedule")
			}
		}
	}
	if d.WAL != nil {
		we := entry + ": wal"
		d.WAL.validate(we, e)
		if len(d.WAL.Streams) > 0 {
			e.add(we, "a wal schedule drains the whole slot; remove its streams")
		}
		timeout := time.Duration(d.Functions["wal"].TimeoutSeconds) * time.Second
		if every, ok := d.WAL.MinInterval(); ok && every < timeout {
			e.add(we, "fires every %s, shorter than the wal function timeout %s; drains of one slot would overlap (raise the interval or lower functions.wal.timeout_seconds)", every, timeout)
		}
	}
	if d.Discover != nil {
		d.Discover.validate(entry+": discover", e)
	}
	if d.Prune != nil {
		d.Prune.Schedule.validate(entry+": prune", e)
		if d.Prune.Keep < 1 {
			e.add(entry+": prune", "keep must be at least 1 (the active version)")
		}
	}
	if m := d.Materialize; m != nil {
		m.Schedule.validate(entry+": materialize", e)
		m.Maintain.validate(entry+": materialize.maintain", e)
		if len(m.Streams) > 0 || len(m.Maintain.Streams) > 0 {
			e.add(entry+": materialize", "materializes every selected stream; remove its streams")
		}
	}
	if len(d.Schedules) == 0 && d.WAL == nil {
		e.add(entry, "has no schedule: add schedules (sync groups) or a wal schedule")
	}
}

func (s *Schedule) validate(entry string, e *errs) {
	if !schedPattern.MatchString(s.Name) {
		e.add(entry, "name must be 1-32 letters, digits, '-' or '_'")
	}
	switch {
	case s.Cron != "" && (s.RateMinutes != 0 || s.AnchorTime != ""):
		e.add(entry, "set cron, or rate_minutes (optionally with anchor_time), not both")
	case s.Cron != "":
		c, err := ParseCron(s.Cron)
		if err != nil {
			e.add(entry, "cron %q: %v", s.Cron, err)
		}
		s.cron = c
		if s.Timezone != "" {
			if _, err := time.LoadLocation(s.Timezone); err != nil {
				e.add(entry, "timezone %q: %v", s.Timezone, err)
			}
		}
	case s.RateMinutes > 0:
		s.validateAnchor(entry, e)
		if s.Timezone != "" {
			e.add(entry, "timezone applies to cron only; anchor_time carries its own offset")
		}
	case s.AnchorTime != "":
		e.add(entry, "anchor_time needs a rate_minutes to repeat at")
	default:
		e.add(entry, "set rate_minutes (optionally with anchor_time) or cron")
	}
	if s.RateMinutes < 0 {
		e.add(entry, "rate_minutes %d must be positive", s.RateMinutes)
	}
}

// validateAnchor parses an optional anchor_time. Without one, a rate
// starts when it is deployed (Stitch's frequency without an anchor).
func (s *Schedule) validateAnchor(entry string, e *errs) {
	if s.AnchorTime == "" {
		return
	}
	t, err := time.Parse(time.RFC3339, s.AnchorTime)
	if err != nil {
		e.add(entry, "anchor_time %q is not RFC3339 (e.g. 2024-01-01T00:05:00Z): %v", s.AnchorTime, err)
		return
	}
	s.anchor = t.UTC()
}
