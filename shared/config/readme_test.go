package config

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// probe sets one documented key to a value other than its default. with
// holds the other keys (dotted paths) the value needs to be valid; ref,
// when set, is the key's value in the reference config instead of leaving
// it out (for keys that are valid only in pairs).
type probe struct {
	with map[string]any
	val  any
	ref  any
}

var (
	s3Sink     = map[string]any{"sink.type": "s3", "sink.bucket": "b"}
	dynamo     = map[string]any{"bookmarks.type": "dynamodb", "bookmarks.table": "t"}
	tunnelBase = map[string]any{"ssh_tunnel.host": "bastion", "ssh_tunnel.user": "ec2-user", "ssh_tunnel.password": "pw", "ssh_tunnel.insecure_ignore_host_key": true}
)

// probes cover every key of the README's configuration table, nested keys
// of sink, bookmarks and ssh_tunnel as sink.part_size_mb and so on.
var probes = map[string]probe{
	"host":                       {val: "other.example.com"},
	"port":                       {val: 5433},
	"user":                       {val: "someone"},
	"password":                   {val: "pw"},
	"dbname":                     {val: "other"},
	"sslmode":                    {val: "verify-full"},
	"sslrootcert":                {val: "/etc/ssl/ca.pem"},
	"sslcert":                    {with: map[string]any{"sslkey": "/k.pem"}, ref: "/a.pem", val: "/b.pem"},
	"sslkey":                     {with: map[string]any{"sslcert": "/c.pem"}, ref: "/a.pem", val: "/b.pem"},
	"filter_schemas":             {val: "public,sales"},
	"default_replication_method": {val: "FULL_TABLE"},
	"batch_rows":                 {val: 500},
	"itersize":                   {val: 500},
	"batch_bytes":                {val: 1 << 20},
	"rows_per_range":             {val: 250000},
	"max_run_seconds":            {val: 60},
	"slot_name":                  {val: "stitch_shop"},
	"logical_plugin":             {val: "wal2json"},
	"publication":                {val: "pub"},
	"publish_all_tables":         {val: true},
	"logical_poll_total_seconds": {val: 60},
	"pipeline":                   {val: "prod"},
	"max_retained_wal_mb":        {val: 50},
	"max_lag_seconds":            {val: 60},
	"debug_lsn":                  {val: true},
	"include_schemas_in_destination_stream_name": {val: true},
	"sink":      {val: map[string]any{"type": "s3", "bucket": "b"}},
	"bookmarks": {val: map[string]any{"type": "dynamodb", "table": "t"}},
	"ssh_tunnel": {val: map[string]any{"host": "bastion", "user": "ec2-user", "password": "pw",
		"host_key": "bastion ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA"}},

	"use_secondary":  {with: map[string]any{"secondary_host": "replica"}, val: true},
	"secondary_host": {with: map[string]any{"use_secondary": true}, ref: "a", val: "b"},
	"secondary_port": {with: map[string]any{"use_secondary": true, "secondary_host": "replica"}, val: 6432},

	"sink.type":         {with: map[string]any{"sink.bucket": "b"}, val: "s3"},
	"sink.path":         {val: "/data/out"},
	"sink.bucket":       {with: map[string]any{"sink.type": "s3"}, ref: "a", val: "b"},
	"sink.prefix":       {with: s3Sink, val: "shop"},
	"sink.region":       {with: s3Sink, val: "eu-west-1"},
	"sink.endpoint":     {with: s3Sink, val: "http://127.0.0.1:9000"},
	"sink.sse":          {with: s3Sink, val: "AES256"},
	"sink.kms_key_id":   {with: map[string]any{"sink.type": "s3", "sink.bucket": "b", "sink.sse": "aws:kms"}, val: "alias/pg2s3"},
	"sink.part_size_mb": {with: s3Sink, val: 32},
	"sink.concurrency":  {with: s3Sink, val: 8},
	"sink.format":       {val: "parquet"},

	"bookmarks.type":     {with: map[string]any{"bookmarks.table": "t"}, val: "dynamodb"},
	"bookmarks.path":     {val: "/data/bookmarks.json"},
	"bookmarks.table":    {with: map[string]any{"bookmarks.type": "dynamodb"}, ref: "a", val: "b"},
	"bookmarks.region":   {with: dynamo, val: "eu-west-1"},
	"bookmarks.endpoint": {with: dynamo, val: "http://127.0.0.1:8000"},

	"ssh_tunnel.host":        {with: tunnelBase, ref: "a", val: "b"},
	"ssh_tunnel.port":        {with: tunnelBase, val: 2222},
	"ssh_tunnel.user":        {with: tunnelBase, ref: "a", val: "b"},
	"ssh_tunnel.private_key": {with: tunnelBase, val: "-----BEGIN OPENSSH PRIVATE KEY-----\n..."},
	"ssh_tunnel.password":    {with: tunnelBase, ref: "a", val: "b"},
	"ssh_tunnel.passphrase":  {with: tunnelBase, val: "words"},
	"ssh_tunnel.host_key":    {with: tunnelBase, val: "bastion ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA"},
}

// readmeExceptions are README keys this test cannot probe, each with why.
var readmeExceptions = map[string]string{
	"filter_dbs": "it changes nothing when valid: a pipeline replicates dbname alone, so filter_dbs may list only dbname and anything else is an error (TestFilterDBs)",
}

// TestReadmeConfigKeysAreHonoured reads the README's configuration table:
// every key it names (and every nested key its sink, bookmarks and
// ssh_tunnel rows spell out) must be accepted by Parse and, set to a value
// other than its default, change the parsed Config.
func TestReadmeConfigKeysAreHonoured(t *testing.T) {
	keys := readmeConfigKeys(t)
	if len(keys) < 20 {
		t.Fatalf("read %d keys from the README's configuration table; the table moved or changed shape: %v", len(keys), keys)
	}
	documented := map[string]bool{}
	for _, key := range keys {
		documented[key] = true
		p, ok := probes[key]
		if !ok {
			if why, skip := readmeExceptions[key]; skip {
				t.Logf("%s: not probed: %s", key, why)
				continue
			}
			t.Errorf("README documents %s, which this test has no probe for: add one to probes", key)
			continue
		}
		checkHonoured(t, key, p)
	}
	for key := range probes {
		if !documented[key] {
			t.Errorf("probe for %s, which the README's configuration table no longer names: document the key or remove the probe", key)
		}
	}
	for key := range readmeExceptions {
		if _, ok := probes[key]; ok {
			t.Errorf("%s is both probed and an exception: remove the exception", key)
		}
	}
}

func checkHonoured(t *testing.T, key string, p probe) {
	t.Helper()
	refDoc, probeDoc := baseDoc(), baseDoc()
	for path, v := range p.with {
		setPath(refDoc, path, v)
		setPath(probeDoc, path, v)
	}
	if p.ref != nil {
		setPath(refDoc, key, p.ref)
	}
	setPath(probeDoc, key, p.val)
	ref, err := parseDoc(refDoc)
	if err != nil {
		t.Errorf("%s: the reference config does not parse (fix the probe): %v", key, err)
		return
	}
	got, err := parseDoc(probeDoc)
	switch {
	case err != nil && strings.Contains(err.Error(), "unknown key"):
		t.Errorf("README documents %s, but Parse rejects it: %v", key, err)
	case err != nil:
		t.Errorf("%s = %v does not parse (fix the probe): %v", key, p.val, err)
	case reflect.DeepEqual(ref, got):
		t.Errorf("README documents %s, but setting it to %v leaves the parsed Config unchanged: the key is accepted and ignored", key, p.val)
	}
}

func baseDoc() map[string]any {
	return map[string]any{"host": "db.example.com", "user": "pg2s3", "dbname": "shop"}
}

func parseDoc(doc map[string]any) (*Config, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

// setPath sets a dotted path ("sink.part_size_mb") in doc, creating the
// objects on the way.
func setPath(doc map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := doc[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			doc[p] = next
		}
		doc = next
	}
	doc[parts[len(parts)-1]] = v
}

var (
	backticked  = regexp.MustCompile("`([^`]+)`")
	plainKey    = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	quotedField = regexp.MustCompile(`^"([a-z][a-z0-9_]*)"\s*(:.*)?$`)
)

// readmeConfigKeys returns the keys of the README's configuration table:
// each backticked name in a row's first column, and for a row whose
// default or meaning spells out an object ({"type":"s3","bucket",...},
// {host, port, ...}, "format": ...), its fields as <key>.<field>.
func readmeConfigKeys(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Configuration\n")
	if !ok {
		t.Fatal(`README.md has no "## Configuration" section`)
	}
	seen := map[string]bool{}
	var keys []string
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for i, row := range tableRows(section) {
		if i < 2 { // header and separator
			continue
		}
		var names []string
		for _, m := range backticked.FindAllStringSubmatch(row[0], -1) {
			if plainKey.MatchString(m[1]) {
				names = append(names, m[1])
				add(m[1])
			}
		}
		if len(names) != 1 {
			continue // only a row about one key can describe its fields
		}
		for _, cell := range row[1:] {
			for _, field := range objectFields(cell) {
				add(names[0] + "." + field)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// tableRows splits the first Markdown table in text into cells, keeping
// escaped pipes (\|) inside their cell.
func tableRows(text string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if len(rows) > 0 {
				break
			}
			continue
		}
		line = strings.ReplaceAll(strings.Trim(line, "|"), `\|`, "\x00")
		var cells []string
		for _, c := range strings.Split(line, "|") {
			cells = append(cells, strings.ReplaceAll(strings.TrimSpace(c), "\x00", "|"))
		}
		rows = append(rows, cells)
	}
	return rows
}

// objectFields returns the field names a cell spells out: the members of
// a backticked {...} (`"name":value`, `"name"` or a bare name; a|b names
// both) and a backticked `"name": value`.
func objectFields(cell string) []string {
	var out []string
	for _, m := range backticked.FindAllStringSubmatch(cell, -1) {
		span := strings.TrimSpace(m[1])
		members := []string{span}
		if strings.HasPrefix(span, "{") && strings.HasSuffix(span, "}") {
			members = strings.Split(strings.Trim(span, "{}"), ",")
		} else if !strings.HasPrefix(span, `"`) {
			continue
		}
		for _, member := range members {
			for _, alt := range strings.Split(member, "|") {
				alt = strings.TrimSpace(alt)
				if f := quotedField.FindStringSubmatch(alt); f != nil && (f[2] != "" || strings.HasPrefix(span, "{")) {
					out = append(out, f[1])
				} else if plainKey.MatchString(alt) && strings.HasPrefix(span, "{") {
					out = append(out, alt)
				}
			}
		}
	}
	return out
}
