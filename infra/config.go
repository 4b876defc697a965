package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/warehouse"
)

// StackConfig is the stack's input: what to replicate and when. It is read
// from the JSON file named by the cdk.json context key `pg2s3:config`.
type StackConfig struct {
	StackName        string       `json:"stack_name"`
	Account          string       `json:"account"`
	Region           string       `json:"region"`
	Bucket           BucketConfig `json:"bucket"`
	Table            TableConfig  `json:"table"`
	LogRetentionDays int          `json:"log_retention_days"`
	AlarmEmail       string       `json:"alarm_email"`
	// GlueDatabase is the Glue (Athena) database the stack creates for the
	// tables over every pipeline's objects; default: the stack name in
	// lower case, other characters than letters and digits as underscores.
	GlueDatabase string            `json:"glue_database"`
	Databases    []*Database       `json:"databases"`
	Tags         map[string]string `json:"tags"`
}

// BucketConfig configures the data bucket.
type BucketConfig struct {
	Encryption                      string `json:"encryption"` // S3_MANAGED (default) or KMS
	NoncurrentVersionExpirationDays int    `json:"noncurrent_version_expiration_days"`
	AccessLogExpirationDays         int    `json:"access_log_expiration_days"`
}

// TableConfig configures the bookmark table.
type TableConfig struct {
	DeletionProtection *bool `json:"deletion_protection"`
}

// Database is one pipeline: a PostgreSQL database replicated into the bucket
// under its own prefix, with its own four functions and schedules.
type Database struct {
	Name            string        `json:"name"`
	SecretArn       string        `json:"secret_arn"`
	SecretKMSKeyArn string        `json:"secret_kms_key_arn"`
	CreateSecret    bool          `json:"create_secret"`
	VPC             *VPCConfig    `json:"vpc"`
	SSLMode         string        `json:"sslmode"`
	SlotName        string        `json:"slot_name"`
	LogicalPlugin   string        `json:"logical_plugin"`
	Prefix          string        `json:"prefix"`
	Catalog         CatalogConfig `json:"catalog"`
	// Format of the data objects: jsonl (default) or parquet; the
	// functions' sink.format.
	Format layout.Format `json:"format"`
	// GlueCatalog is a catalog.json (from pg2s3 discover) read at synth:
	// the stack creates a Glue table per selected stream from its columns.
	// With inline catalog.streams, those streams are the selection; else
	// the file's own selections. Relative paths start at the config file.
	GlueCatalog string                     `json:"glue_catalog"`
	Functions   map[string]*FunctionConfig `json:"functions"`
	Schedules   []*Schedule                `json:"schedules"`
	WAL         *Schedule                  `json:"wal"`
	Discover    *Schedule                  `json:"discover"`
	Prune       *PruneConfig               `json:"prune"`
	// Materialize, when set, adds the materialize function and its
	// schedules: Iceberg tables in the pipeline's own Glue database.
	Materialize *MaterializeConfig `json:"materialize"`
	Alarms      AlarmConfig        `json:"alarms"`
	// ParallelCopy sizes the parallel copy state machine (parallel.go).
	ParallelCopy *ParallelCopyConfig `json:"parallel_copy"`

	// glueStreams are the streams of GlueCatalog, typed (validate).
	glueStreams []record.Stream
}

// VPCConfig places a pipeline's functions in an existing VPC, imported by
// attributes (no lookups, so synth stays offline).
type VPCConfig struct {
	VpcID              string   `json:"vpc_id"`
	SubnetIDs          []string `json:"subnet_ids"`
	SecurityGroupIDs   []string `json:"security_group_ids"`    // existing groups; a new one is created when empty
	RDSSecurityGroupID string   `json:"rds_security_group_id"` // gets an ingress rule from the functions' group
	Port               int      `json:"port"`
}

// CatalogConfig says where the stream selection comes from: a catalog.json
// in the bucket (written by the discover function, edited by the user) or an
// inline selection handed to the functions in PG2S3_SELECTION.
type CatalogConfig struct {
	S3Key   string                      `json:"s3_key"`
	Streams map[string]*StreamSelection `json:"streams"`
}

// StreamSelection is one inline-selected stream.
type StreamSelection struct {
	ReplicationMethod string `json:"replication_method"`
	ReplicationKey    string `json:"replication_key,omitempty"`
}

// FunctionConfig sizes one function.
type FunctionConfig struct {
	TimeoutSeconds int `json:"timeout_seconds"`
	MemoryMB       int `json:"memory_mb"`
}

// Schedule fires a function: every `rate_minutes`, from the deploy or
// aligned to an optional `anchor_time`, or an EventBridge `cron`. Sync
// schedules name the streams of their group.
type Schedule struct {
	Name        string   `json:"name"`
	Streams     []string `json:"streams"`
	RateMinutes int      `json:"rate_minutes"`
	AnchorTime  string   `json:"anchor_time"`
	Cron        string   `json:"cron"`
	Timezone    string   `json:"timezone"`
	Disabled    bool     `json:"disabled"`

	anchor time.Time
	cron   *Cron
}

// PruneConfig schedules pg2s3 prune through the reset function: table
// versions older than each stream's newest Keep activated ones go.
type PruneConfig struct {
	Schedule
	Keep int `json:"keep"`
}

// MaterializeConfig schedules the materialize function (its own schedule
// fields: rate_minutes or cron) and its maintenance, {"maintain": true}
// on the maintain schedule (default daily, DefaultMaintainMinutes).
type MaterializeConfig struct {
	Schedule
	Maintain *Schedule `json:"maintain"`
	// CopyOnWrite (default true) makes the function rewrite the data
	// files that hold changed keys instead of writing equality deletes
	// (PG2S3_ICEBERG_COPY_ON_WRITE): slower commits, but tables of data
	// files only, which Athena (the stack's reader) documents reading;
	// false writes merge-on-read.
	CopyOnWrite *bool `json:"copy_on_write"`
}

// copyOnWrite is the setting with its default.
func (m *MaterializeConfig) copyOnWrite() bool { return m.CopyOnWrite == nil || *m.CopyOnWrite }

// DefaultMaintainMinutes is how often a pipeline's Iceberg tables are
// compacted and their snapshots expired when materialize.maintain is
// not given.
const DefaultMaintainMinutes = 24 * 60

// AlarmConfig holds per-pipeline alarm thresholds.
type AlarmConfig struct {
	SlotRetainedWALBytes int64   `json:"slot_retained_wal_bytes"`
	DurationRatio        float64 `json:"duration_ratio"`
	// SlotLagSeconds: the replication lag a drain may report.
	SlotLagSeconds int `json:"slot_lag_seconds"`
	// NoDrainMinutes: how long the pipeline may go without a successful
	// drain (default 60, at least three of its wal schedule's intervals).
	NoDrainMinutes int `json:"no_drain_minutes"`
}

// FunctionNames are the four functions of every pipeline, in creation order.
var FunctionNames = []string{"sync", "wal", "reset", "discover"}

// MaterializeFunction is the function of the pipelines with a
// materialize setting (and its asset, built by make lambdas like the
// others).
const MaterializeFunction = "materialize"

// functionNames are the pipeline's functions, in creation order.
func (d *Database) functionNames() []string {
	if d.Materialize != nil {
		return append(append([]string{}, FunctionNames...), MaterializeFunction)
	}
	return FunctionNames
}

var defaultFunctions = map[string]FunctionConfig{
	"sync":     {TimeoutSeconds: 300, MemoryMB: 1024},
	"wal":      {TimeoutSeconds: 300, MemoryMB: 1024},
	"reset":    {TimeoutSeconds: 60, MemoryMB: 256},
	"discover": {TimeoutSeconds: 300, MemoryMB: 512},
	// Arrow and Iceberg: a commit holds up to 100,000 changes, and a
	// replacement by a new table version is one commit.
	MaterializeFunction: {TimeoutSeconds: 900, MemoryMB: 2048},
}

// Defaults.
const (
	DefaultSSLMode              = "verify-full"
	DefaultPlugin               = "pgoutput"
	DefaultLogRetentionDays     = 30
	DefaultSlotRetainedWALBytes = 5 << 30
	DefaultDurationRatio        = 0.8
	DefaultSlotLagSeconds       = 3600
	DefaultNoDrainMinutes       = 60
	DefaultNoncurrentDays       = 30
	DefaultAccessLogDays        = 90
	maxInlineSelectionBytes     = 2048
)

var (
	namePattern   = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)
	schedPattern  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
	slotPattern   = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)
	secretPattern = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$`)
	kmsPattern    = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$`)
	vpcPattern    = regexp.MustCompile(`^vpc-[0-9a-f]+$`)
	subnetPattern = regexp.MustCompile(`^subnet-[0-9a-f]+$`)
	sgPattern     = regexp.MustCompile(`^sg-[0-9a-f]+$`)
	sslModes      = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
	methods       = []string{string(layout.FullTable), string(layout.Incremental), string(layout.LogBased)}
)

// LoadStackConfig reads and validates a stack config file.
func LoadStackConfig(path string) (*StackConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read stack config: %w", err)
	}
	c, err := parseStackConfig(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("stack config %s:\n%w", path, err)
	}
	return c, nil
}

// ParseStackConfig parses a stack config, fills in defaults and validates
// it. The error joins every problem found, each naming its entry. Relative
// glue_catalog paths start at the working directory.
func ParseStackConfig(data []byte) (*StackConfig, error) { return parseStackConfig(data, "") }

func parseStackConfig(data []byte, dir string) (*StackConfig, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	c := &StackConfig{}
	if err := dec.Decode(c); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	c.defaults()
	for _, d := range c.Databases {
		if d != nil && d.GlueCatalog != "" && !filepath.IsAbs(d.GlueCatalog) && dir != "" {
			d.GlueCatalog = filepath.Join(dir, d.GlueCatalog)
		}
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *StackConfig) defaults() {
	if c.StackName == "" {
		c.StackName = "Pg2s3"
	}
	if c.Bucket.Encryption == "" {
		c.Bucket.Encryption = "S3_MANAGED"
	}
	c.Bucket.Encryption = strings.ToUpper(c.Bucket.Encryption)
	if c.Bucket.NoncurrentVersionExpirationDays == 0 {
		c.Bucket.NoncurrentVersionExpirationDays = DefaultNoncurrentDays
	}
	if c.Bucket.AccessLogExpirationDays == 0 {
		c.Bucket.AccessLogExpirationDays = DefaultAccessLogDays
	}
	if c.Table.DeletionProtection == nil {
		t := true
		c.Table.DeletionProtection = &t
	}
	if c.LogRetentionDays == 0 {
		c.LogRetentionDays = DefaultLogRetentionDays
	}
	if c.GlueDatabase == "" {
		c.GlueDatabase = warehouse.AthenaName(c.StackName)
	}
	for _, d := range c.Databases {
		if d == nil {
			continue
		}
		if d.SSLMode == "" {
			d.SSLMode = DefaultSSLMode
		}
		if d.LogicalPlugin == "" {
			d.LogicalPlugin = DefaultPlugin
		}
		if d.Format == "" {
			d.Format = layout.JSONL
		}
		d.Format = layout.Format(strings.ToLower(string(d.Format)))
		if d.SlotName == "" {
			d.SlotName = "pg2s3_" + strings.ReplaceAll(d.Name, "-", "_")
		}
		if d.Prefix == "" {
			d.Prefix = d.Name
		}
		d.Prefix = strings.Trim(d.Prefix, "/")
		if d.Catalog.S3Key == "" {
			d.Catalog.S3Key = layout.CatalogKey // below the prefix, where the functions read it
		}
		if d.Functions == nil {
			d.Functions = map[string]*FunctionConfig{}
		}
		for name, def := range defaultFunctions {
			f := d.Functions[name]
			if f == nil {
				f = &FunctionConfig{}
				d.Functions[name] = f
			}
			if f.TimeoutSeconds == 0 {
				f.TimeoutSeconds = def.TimeoutSeconds
			}
			if f.MemoryMB == 0 {
				f.MemoryMB = def.MemoryMB
			}
		}
		if d.VPC != nil && d.VPC.Port == 0 {
			d.VPC.Port = 5432
		}
		if d.Alarms.SlotRetainedWALBytes == 0 {
			d.Alarms.SlotRetainedWALBytes = DefaultSlotRetainedWALBytes
		}
		if d.Alarms.DurationRatio == 0 {
			d.Alarms.DurationRatio = DefaultDurationRatio
		}
		if d.Alarms.SlotLagSeconds == 0 {
			d.Alarms.SlotLagSeconds = DefaultSlotLagSeconds
		}
		if d.Alarms.NoDrainMinutes == 0 {
			d.Alarms.NoDrainMinutes = DefaultNoDrainMinutes
			if d.WAL != nil {
				if every, ok := d.WAL.MinInterval(); ok {
					d.Alarms.NoDrainMinutes = max(DefaultNoDrainMinutes, int((3*every).Round(time.Minute)/time.Minute))
				}
			}
		}
		d.parallelDefaults()
		for i, s := range d.Schedules {
			if s != nil && s.Name == "" {
				s.Name = fmt.Sprintf("sync%d", i+1)
			}
		}
		if d.WAL != nil && d.WAL.Name == "" {
			d.WAL.Name = "wal"
		}
		if d.Discover != nil && d.Discover.Name == "" {
			d.Discover.Name = "discover"
		}
		if m := d.Materialize; m != nil {
			if m.Name == "" {
				m.Name = "materialize"
			}
			if m.Maintain == nil {
				m.Maintain = &Schedule{RateMinutes: DefaultMaintainMinutes}
			}
			if m.Maintain.Name == "" {
				m.Maintain.Name = "maintain"
			}
		}
		if d.Prune != nil {
			if d.Prune.Name == "" {
				d.Prune.Name = "prune"
			}
			if d.Prune.Keep == 0 {
				d.Prune.Keep = 1
			}
		}
	}
}

// MinInterval is the shortest time between two firings of the schedule
// (exact for rates, a lower bound for cron expressions).
func (s *Schedule) MinInterval() (time.Duration, bool) {
	switch {
	case s.cron != nil:
		return s.cron.MinInterval(), true
	case s.RateMinutes > 0:
		return time.Duration(s.RateMinutes) * time.Minute, true
	}
	return 0, false
}

// Expression is the schedule in EventBridge Scheduler syntax.
func (s *Schedule) Expression() string {
	if s.cron != nil {
		return "cron(" + s.cron.String() + ")"
	}
	if s.RateMinutes == 1 {
		return "rate(1 minute)"
	}
	return fmt.Sprintf("rate(%d minutes)", s.RateMinutes)
}

// StartDate is the first firing aligned to the anchor at or after now, so a
// rate schedule keeps the anchor's phase however late it is deployed
// (EventBridge Scheduler refuses start dates in the past). Empty for cron
// and for a rate without an anchor, which EventBridge starts at creation.
func (s *Schedule) StartDate(now time.Time) string {
	if s.cron != nil || s.RateMinutes <= 0 || s.anchor.IsZero() {
		return ""
	}
	t := s.anchor
	if now.After(t) {
		every := time.Duration(s.RateMinutes) * time.Minute
		n := (now.Sub(t) + every - 1) / every
		t = t.Add(n * every)
	}
	return t.UTC().Format(time.RFC3339)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
